// Parsing and validation of request bodies for the API (kept apart from routing so each rule is in
// one place). Nothing from a request reaches Docker, nginx or the disk before it passes here.
#pragma once

#include <string>

#include "core/status.h"
#include "server/deployer.h"
#include "server/options.h"

namespace bim {

struct HttpRequest;

// The deploy route's body limit (the context, the meta part and multipart framing) and the message
// a body over it gets.
int64_t DeployBodyLimit(const ServerOptions& options);
std::string UploadTooLargeMessage(const ServerOptions& options);

// What a deploy upload carried besides the settings ReadDeployUpload puts in the DeployRequest.
struct DeployUpload {
  std::string meta;  // the meta part's JSON text (its "context"/"image" fields name the source)
  std::string part;  // the file part: "context", "contents", "image", or "" when there was none
  std::string path;  // where a "contents" or "image" part was written (the caller's to delete)
};

// Reads a deploy upload: a multipart body with a "meta" part (JSON, at most 1 MiB) and at most one
// file part (at most options.max_upload_bytes, written under <data_dir>/uploads/):
//   "context"   the whole build-context tar (the older format), checked with CheckBuildContext and
//               handed over as out->context_path;
//   "contents"  the file contents bimd lacks of a planned manifest (ResolveDeploySource stores them);
//   "image"     a `docker save` archive for --build local (ResolveDeploySource checks it).
// Validates the meta (app name equal to `path_app`, port, health path and timeout, env keys, git
// commit). On failure returns a 4xx Status and leaves nothing on disk; on success fills *out and
// *upload (out->context_path and upload->path are the caller's to delete).
//
// Meta format: {"app":"hello","port":8080,"health":{"path":"/","timeout_ms":30000},
//               "env":[{"key":"K","value":"V"}],"git_commit":"<hex>","git_dirty":false,
//               "source_digest":"sha256:<64 hex>","build_args":{"K":"V"},"wait":true,
//               "context":{"manifest":"<id>"} | "image":{"id":"sha256:<hex>","layers":[...]}}
// The body is read here, as it arrives (req.ReadBody), so this runs on the deploy's stream thread.
Status ReadDeployUpload(const ServerOptions& options, const std::string& path_app, const HttpRequest& req,
                        DeployRequest* out, DeployUpload* upload);

// Validates and converts the meta JSON into *out (everything but context_path).
Status ParseDeployMeta(const std::string& meta_text, const std::string& path_app, DeployRequest* out);

// Env entries as the API carries them: a JSON list of {"key": string, "value": string}, keys valid env
// keys (ValidateEnvKey), values free of NUL bytes; a later key replaces an earlier one. Appends to *out.
// InvalidArgument naming `field` and the problem otherwise (never quoting a value).
Status ParseEnvEntries(const nlohmann::json& list, const std::string& field, EnvList* out);

}  // namespace bim
