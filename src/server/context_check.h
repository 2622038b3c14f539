// Build-context checks: a context tarball comes from the network and is hostile until proven
// otherwise. bimd checks every entry before handing the tar to Docker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace bim {

struct ContextLimits {
  int64_t max_entries = 100000;
  int64_t max_unpacked_bytes = int64_t{4} << 30;
};

// Reads the tar (plain or gzip) at `path` and returns OK only if every entry is a regular file,
// directory, symlink or hardlink that keeps ContextTree's rules (no entry can resolve outside the
// context: no "..", absolute names, entries beneath symlinks, escaping symlink chains or hardlinks;
// no .env* files) and the limits hold. Otherwise InvalidArgument naming the first offending entry,
// TooLarge for a limit, or InvalidArgument for a corrupt/truncated stream. Also requires a
// Dockerfile at the top level named `dockerfile`.
Status CheckBuildContext(const std::string& path, const ContextLimits& limits, const std::string& dockerfile);
// The same checks on a tar held in memory (used by the fuzzer and tests).
Status CheckBuildContext(const void* data, size_t size, const ContextLimits& limits, const std::string& dockerfile);

// Reads the regular file `name` (e.g. "Dockerfile") of the context tar at `path` into *out. NotFound
// if the tar has no such file, TooLarge if it is longer than `max_bytes`, InvalidArgument for a tar
// that does not read.
Status ReadContextFile(const std::string& path, const std::string& name, size_t max_bytes, std::string* out);

}  // namespace bim
