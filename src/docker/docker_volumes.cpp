// DockerClient's named volumes and file archives: what keeps a stateful service's data, how it is
// copied in and out of a container (backup and restore), and pausing a container around a copy.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "docker/docker_client.h"
#include "docker/engine_http.h"
#include "docker/engine_json.h"

namespace bim {

using namespace engine_json;

Status DockerClient::CreateVolume(const std::string& name, const Labels& labels) const {
  json body = {{"Name", name}, {"Driver", "local"}, {"Labels", json::object()}};
  for (const auto& [k, v] : labels) body["Labels"][k] = v;
  engine::Request request;
  request.method = "POST";
  request.target = "/volumes/create";
  request.json_body = Dump(body);
  return Call(socket_path_, request, "docker volume create " + name);
}

Status DockerClient::RemoveVolume(const std::string& name) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = "/volumes/" + engine::PathEscape(name);
  return Call(socket_path_, request, "docker volume rm " + name);
}

Status DockerClient::ListVolumes(const Labels& labels, bool sizes, std::vector<VolumeInfo>* out) const {
  engine::Request request;
  request.target = "/volumes?filters=" + LabelFilter(labels);
  json j;
  Status s = Call(socket_path_, request, "docker volume ls", &j);
  if (!s.ok()) return s;
  out->clear();
  const json& volumes = j.value("Volumes", json::array());
  if (!volumes.is_array()) return Status::OK();  // Docker sends null for none
  for (const json& v : volumes) {
    if (!v.is_object()) continue;
    out->push_back({Str(v, "Name"), LabelsOf(v.value("Labels", json())), -1, Str(v, "CreatedAt")});
  }
  if (!sizes || out->empty()) return Status::OK();
  // API 1.41 measures volumes only in /system/df (which reports images and containers too).
  engine::Request df;
  df.target = "/system/df";
  df.timeout_seconds = 300;
  json usage;
  if (!(s = Call(socket_path_, df, "docker system df", &usage)).ok()) return s;
  std::map<std::string, int64_t> size_of;
  if (const json& all = usage.value("Volumes", json::array()); all.is_array())
    for (const json& v : all)
      if (v.is_object()) size_of[Str(v, "Name")] = Num(Obj(v, "UsageData"), "Size");
  for (VolumeInfo& v : *out)
    if (auto it = size_of.find(v.name); it != size_of.end()) v.size_bytes = it->second;
  return Status::OK();
}

Status DockerClient::PauseContainer(const std::string& id, bool paused) const {
  engine::Request request;
  request.method = "POST";
  request.target = fmt::format("/containers/{}/{}", engine::PathEscape(id), paused ? "pause" : "unpause");
  Status s = Call(socket_path_, request, std::string(paused ? "docker pause " : "docker unpause ") + id);
  // Docker answers 409 "is already paused" / "is not paused": the state asked for holds.
  if (s.code() == Code::kConflict && s.message().find("paused") != std::string::npos) return Status::OK();
  return s;
}

Status DockerClient::GetArchive(const std::string& container, const std::string& path, const ByteSink& on_data) const {
  engine::Request request;
  request.target = fmt::format("/containers/{}/archive?path={}", engine::PathEscape(container), engine::QueryEscape(path));
  request.timeout_seconds = 0;  // as long as the data takes; the sink stops it
  bool stopped = false;
  request.on_data = [&](std::string_view chunk) {
    if (!stopped && !on_data(chunk)) stopped = true;
  };
  request.cancelled = [&] { return stopped; };
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  std::string what = "docker cp " + container + ":" + path;
  if (stopped) return Status::Cancelled(what + ": the receiver stopped reading");
  if (!s.ok()) return s;
  if (response.status >= 400) return engine::ErrorStatus(response, what);
  return Status::OK();
}

Status DockerClient::PutArchive(const std::string& container, const std::string& path, const std::string& tar_file) const {
  engine::Request request;
  request.method = "PUT";
  request.target = fmt::format("/containers/{}/archive?path={}&noOverwriteDirNonDir=1", engine::PathEscape(container),
                               engine::QueryEscape(path));
  request.body_file = tar_file;
  request.content_type = "application/x-tar";
  request.timeout_seconds = 0;
  return Call(socket_path_, request, "docker cp into " + container + ":" + path);
}

}  // namespace bim
