// DockerClient's calls that move whole images without a registry: save, load and tag. Kept apart from
// docker_client.cpp because `bim deploy --build local` is their only user.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "docker/docker_client.h"
#include "docker/engine_http.h"

namespace bim {

using json = nlohmann::json;

Status DockerClient::SaveImage(const std::string& ref, const std::string& path) const {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot create " + path);
  bool write_failed = false;
  engine::Request request;
  request.target = fmt::format("/images/{}/get", engine::PathEscape(ref));
  request.timeout_seconds = 0;  // as long as the image takes
  request.on_data = [&](std::string_view chunk) {
    for (size_t off = 0; off < chunk.size() && !write_failed;) {
      ssize_t n = write(fd, chunk.data() + off, chunk.size() - off);
      if (n <= 0) write_failed = true;
      else off += static_cast<size_t>(n);
    }
  };
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  close(fd);
  if (s.ok() && response.status >= 400) s = engine::ErrorStatus(response, "docker save " + ref);
  if (s.ok() && write_failed) s = Status::Internal("cannot write " + path + " (disk full?)");
  if (!s.ok()) unlink(path.c_str());
  return s;
}

Status DockerClient::LoadImage(const std::string& path, std::vector<std::string>* loaded) const {
  engine::Request request;
  request.method = "POST";
  request.target = "/images/load?quiet=1";
  request.body_file = path;
  request.content_type = "application/x-tar";
  request.timeout_seconds = 0;
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  if (!s.ok()) return s;
  if (response.status >= 400) {
    Status e = engine::ErrorStatus(response, "docker load");
    return response.status >= 500 ? Status::FailedPrecondition(e.message()) : e;
  }
  // One JSON object per line: {"stream":"Loaded image ID: sha256:...\n"} or {"error":"..."}.
  loaded->clear();
  std::string error;
  size_t start = 0;
  const std::string& body = response.body;
  while (start < body.size()) {
    size_t nl = body.find('\n', start);
    json j = json::parse(body.substr(start, nl == std::string::npos ? std::string::npos : nl - start), nullptr, false);
    start = nl == std::string::npos ? body.size() : nl + 1;
    if (!j.is_object()) continue;
    if (auto e = j.find("error"); e != j.end() && e->is_string() && error.empty()) error = e->get<std::string>();
    if (auto t = j.find("stream"); t != j.end() && t->is_string()) {
      std::string text = t->get<std::string>();
      for (const char* prefix : {"Loaded image ID: ", "Loaded image: "}) {
        if (text.rfind(prefix, 0) != 0) continue;
        text.erase(0, std::string(prefix).size());
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        loaded->push_back(text);
      }
    }
  }
  if (!error.empty()) return Status::FailedPrecondition("docker load: " + error);
  return Status::OK();
}

Status DockerClient::TagImage(const std::string& ref, const std::string& repo, const std::string& tag) const {
  engine::Request request;
  request.method = "POST";
  request.target = fmt::format("/images/{}/tag?repo={}&tag={}", engine::PathEscape(ref), engine::QueryEscape(repo),
                               engine::QueryEscape(tag));
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  if (!s.ok()) return s;
  if (response.status >= 400) return engine::ErrorStatus(response, fmt::format("docker tag {} {}:{}", ref, repo, tag));
  return Status::OK();
}

}  // namespace bim
