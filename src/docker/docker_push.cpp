// DockerClient's call that moves images to a registry: push (tagging is in docker_images.cpp).
#include <fmt/format.h>

#include <set>

#include "docker/docker_client.h"
#include "docker/engine_json.h"

namespace bim {

Status DockerClient::PushImage(const std::string& repo, const std::string& tag, const LineSink& on_output,
                               PushResult* result, const CancelCheck& cancelled) const {
  std::string what = fmt::format("docker push {}:{}", repo, tag);
  std::set<std::string> pushed, present;
  LineSink sink = [&](std::string_view line) {
    // Progress lines are "<layer id>: <status>"; count each layer once by how it ended.
    if (size_t colon = line.find(": "); colon != std::string_view::npos) {
      std::string_view status = line.substr(colon + 2);
      if (status == "Pushed") pushed.insert(std::string(line.substr(0, colon)));
      if (status == "Layer already exists") present.insert(std::string(line.substr(0, colon)));
    }
    if (on_output) on_output(line);
  };
  engine_json::ProgressStream parser(sink);
  engine::Request request;
  request.method = "POST";
  request.target = fmt::format("/images/{}/push?tag={}", engine::PathEscape(repo), engine::QueryEscape(tag));
  // The Engine requires this header even for a registry without authentication: base64("{}").
  request.headers.push_back("X-Registry-Auth: e30=");
  request.timeout_seconds = 0;  // large images take as long as they take; `cancelled` is the way out
  request.cancelled = cancelled;
  // Like a build, a failed push answers 200 with an {"error": ...} object in the stream.
  if (Status s = engine_json::PerformProgress(socket_path_, std::move(request), &parser, what); !s.ok()) return s;
  PushResult r;
  r.digest = engine_json::Str(parser.aux(), "Digest");
  r.layers_pushed = static_cast<int>(pushed.size());
  r.layers_present = static_cast<int>(present.size());
  if (r.digest.empty()) return Status::Internal(what + ": dockerd reported no digest for the pushed image");
  if (result) *result = r;
  return Status::OK();
}

}  // namespace bim
