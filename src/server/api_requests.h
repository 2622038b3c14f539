// Parsing and validation of request bodies for the API (kept apart from routing so each rule is in
// one place). Nothing from a request reaches Docker, nginx or the disk before it passes here.
#pragma once

#include <string>

#include "core/status.h"
#include "server/deployer.h"
#include "server/options.h"

namespace httplib {
struct Request;
class ContentReader;
}  // namespace httplib

namespace bim {

// Reads a deploy upload: a multipart body with a "meta" part (JSON, at most 1 MiB) and a "context"
// part (the build-context tar, at most options.max_upload_bytes) written under
// <data_dir>/uploads/. Validates the meta (app name equal to `path_app`, port, health path and
// timeout, env keys, git commit) and the tar (CheckBuildContext). On failure returns a 4xx Status and
// leaves nothing on disk; on success fills *out (out->context_path is the caller's to delete).
//
// Meta format: {"app":"hello","port":8080,"health":{"path":"/","timeout_ms":30000},
//               "env":[{"key":"K","value":"V"}],"git_commit":"<hex>","wait":true}
Status ReadDeployUpload(const ServerOptions& options, const std::string& path_app, const httplib::Request& req,
                        const httplib::ContentReader& reader, DeployRequest* out);

// Validates and converts the meta JSON into *out (everything but context_path).
Status ParseDeployMeta(const std::string& meta_text, const std::string& path_app, DeployRequest* out);

}  // namespace bim
