// Build contexts of a Compose app's services. The CLI uploads the app folder once; a service that
// builds from a sub-folder (`build: ./worker`) gets a context of its own, cut out of the upload.
#pragma once

#include <string>

#include "core/status.h"

namespace bim {

// Writes to `out_path` an uncompressed tar holding the entries of the checked context tar at
// `context_path` (plain or gzip) that lie under `dir` ("worker", "services/api"), with `dir/`
// removed from their names, leaving out what `dir/.dockerignore` excludes (as Docker would for that
// context; Dockerfile and .dockerignore are always kept). InvalidArgument naming `service` when the
// folder is missing from the upload, has no `dockerfile` (relative to it), or holds a hard link to
// a file outside it. The input must have passed CheckBuildContext.
Status ExtractSubContext(const std::string& context_path, const std::string& dir, const std::string& dockerfile,
                         const std::string& service, const std::string& out_path);

}  // namespace bim
