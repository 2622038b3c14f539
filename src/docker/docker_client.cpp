#include "docker/docker_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "docker/engine_http.h"
#include "docker/engine_json.h"
#include "docker/line_splitter.h"

namespace bim {
namespace {

using json = nlohmann::json;
using namespace engine_json;

// Replaces env values (and whole KEY=VALUE entries) in a Docker error message: values are secrets.
// Values shorter than 4 characters are left alone; masking them would mangle ordinary words.
std::string RedactEnv(std::string message, const std::vector<std::string>& env) {
  auto mask = [&message](const std::string& secret) {
    for (size_t at; !secret.empty() && (at = message.find(secret)) != std::string::npos;) {
      message.replace(at, secret.size(), "***");
    }
  };
  for (const std::string& entry : env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    mask(entry);
    if (entry.size() - eq - 1 >= 4) mask(entry.substr(eq + 1));
  }
  return message;
}



}  // namespace

DockerClient::DockerClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

Status DockerClient::Ping() const {
  engine::Request request;
  request.target = "/_ping";
  request.timeout_seconds = 10;
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  if (!s.ok()) return s;
  if (response.status != 200 || response.body != "OK") {
    return Status::Unavailable(fmt::format("dockerd at {} answered /_ping with HTTP {} \"{}\"", socket_path_,
                                           response.status, response.body.substr(0, 100)));
  }
  return Status::OK();
}

Status DockerClient::BuildImage(const BuildOptions& options, const LineSink& on_output, std::string* image_id,
                                const CancelCheck& cancelled) const {
  std::string what = fmt::format("docker build {}", options.tag);
  json labels = json::object();
  for (const auto& [k, v] : options.labels) labels[k] = v;
  ProgressStream parser(on_output);
  engine::Request request;
  request.method = "POST";
  request.target = fmt::format("/build?t={}&dockerfile={}&labels={}&rm=1&forcerm=1",
                               engine::QueryEscape(options.tag), engine::QueryEscape(options.dockerfile),
                               engine::QueryEscape(Dump(labels)));
  if (!options.build_args.empty()) {
    json args = json::object();
    for (const auto& [k, v] : options.build_args) args[k] = v;
    request.target += "&buildargs=" + engine::QueryEscape(Dump(args));
  }
  if (!options.network.empty()) request.target += "&networkmode=" + engine::QueryEscape(options.network);
  if (options.limits.memory_bytes > 0)
    request.target += fmt::format("&memory={0}&memswap={0}", options.limits.memory_bytes);
  if (options.limits.nano_cpus > 0)  // the builder takes CFS quota/period, not NanoCpus
    request.target += fmt::format("&cpuperiod=100000&cpuquota={}", std::max<int64_t>(options.limits.nano_cpus / 10000, 1000));
  if (!options.cgroup_parent.empty()) request.target += "&cgroupparent=" + engine::QueryEscape(options.cgroup_parent);
  if (!options.cache_from.empty()) request.target += "&cachefrom=" + engine::QueryEscape(Dump(json(options.cache_from)));
  request.body_file = options.context_tar_path;
  request.content_type = "application/x-tar";
  request.timeout_seconds = 0;  // builds take as long as they take; `cancelled` is the way out
  request.cancelled = cancelled;
  // A failed build still answers 200; the failure is an {"error": ...} object in the stream.
  if (Status s = PerformProgress(socket_path_, std::move(request), &parser, what); !s.ok()) return s;
  std::string id = Str(parser.aux(), "ID");
  if (id.empty()) {  // older daemons send no aux ID; the tag now names the image
    ImageInfo info;
    Status inspect = InspectImage(options.tag, &info);
    if (!inspect.ok()) return inspect.Wrap(what + " finished, but the image is missing");
    id = info.id;
  }
  if (image_id) *image_id = id;
  return Status::OK();
}

Status DockerClient::PullImage(const std::string& ref, const LineSink& on_output, const CancelCheck& cancelled) const {
  // fromImage without a tag would pull every tag of the repository: always name one.
  std::string repo = ref, tag = "latest";
  if (size_t at = ref.find('@'); at != std::string::npos) {
    repo = ref.substr(0, at);
    tag = ref.substr(at + 1);
  } else if (size_t colon = ref.rfind(':'); colon != std::string::npos && ref.find('/', colon) == std::string::npos) {
    repo = ref.substr(0, colon);
    tag = ref.substr(colon + 1);
  }
  const LineSink sink = on_output ? on_output : LineSink([](std::string_view) {});
  ProgressStream parser(sink);
  engine::Request request;
  request.method = "POST";
  request.target = "/images/create?fromImage=" + engine::QueryEscape(repo) + "&tag=" + engine::QueryEscape(tag);
  request.timeout_seconds = 0;
  request.cancelled = cancelled;
  // A failed pull may still answer 200; the failure is then an {"error": ...} object in the stream.
  return PerformProgress(socket_path_, std::move(request), &parser, "docker pull " + ref);
}

Status DockerClient::CreateContainer(const ContainerSpec& spec, std::string* id) const {
  json body = {{"Image", spec.image},
               {"Env", spec.env},
               {"Labels", json::object()},
               {"StopTimeout", spec.stop_timeout_seconds}};
  for (const auto& [k, v] : spec.labels) body["Labels"][k] = v;
  if (!spec.command.empty()) body["Cmd"] = spec.command;
  if (!spec.entrypoint.empty()) body["Entrypoint"] = spec.entrypoint;
  json host_config = {{"RestartPolicy", {{"Name", spec.restart_policy}}}, {"Init", spec.init}};
  if (spec.limits.memory_bytes > 0) {
    host_config["Memory"] = spec.limits.memory_bytes;
    host_config["MemorySwap"] = spec.limits.memory_bytes;  // no swap beyond the limit
  }
  if (spec.limits.nano_cpus > 0) host_config["NanoCpus"] = spec.limits.nano_cpus;
  if (spec.limits.pids > 0) host_config["PidsLimit"] = spec.limits.pids;
  if (!spec.cap_drop.empty()) host_config["CapDrop"] = spec.cap_drop;
  if (spec.no_new_privileges) host_config["SecurityOpt"] = json::array({"no-new-privileges"});
  if (spec.container_port > 0) {
    std::string port = fmt::format("{}/tcp", spec.container_port);
    body["ExposedPorts"] = {{port, json::object()}};
    std::string host_port = spec.host_port > 0 ? std::to_string(spec.host_port) : "";
    host_config["PortBindings"] = {{port, json::array({{{"HostIp", spec.host_ip}, {"HostPort", host_port}}})}};
  }
  if (!spec.volumes.empty()) {
    json mounts = json::array();
    for (const auto& v : spec.volumes)
      mounts.push_back({{"Type", "volume"}, {"Source", v.volume}, {"Target", v.target}, {"ReadOnly", v.read_only}});
    host_config["Mounts"] = mounts;
  }
  if (!spec.logs.max_size.empty() || spec.logs.max_files > 0) {
    json config = json::object();
    if (!spec.logs.max_size.empty()) config["max-size"] = spec.logs.max_size;
    if (spec.logs.max_files > 0) config["max-file"] = std::to_string(spec.logs.max_files);
    host_config["LogConfig"] = {{"Type", "json-file"}, {"Config", config}};
  }
  if (!spec.healthcheck.test.empty()) body["Healthcheck"] = engine_json::HealthcheckJson(spec.healthcheck);
  if (!spec.networks.empty()) {
    const NetworkAttachment& first = spec.networks.front();
    host_config["NetworkMode"] = first.network;
    body["NetworkingConfig"] = {{"EndpointsConfig", {{first.network, {{"Aliases", first.aliases}}}}}};
  }
  body["HostConfig"] = host_config;

  engine::Request request;
  request.method = "POST";
  request.target = "/containers/create?name=" + engine::QueryEscape(spec.name);
  request.json_body = Dump(body);
  json answer;
  Status s = Call(socket_path_, request, "docker create container " + spec.name, &answer);
  if (!s.ok()) return Status(s.code(), RedactEnv(s.message(), spec.env));
  std::string created = Str(answer, "Id");
  if (created.empty()) return Status::Internal("docker create container " + spec.name + ": answer has no Id");
  for (size_t i = 1; i < spec.networks.size(); ++i) {
    s = ConnectNetwork(spec.networks[i].network, created, spec.networks[i].aliases);
    if (!s.ok()) {
      RemoveContainer(created, true);
      return s;
    }
  }
  if (id) *id = created;
  return Status::OK();
}

Status DockerClient::ConnectNetwork(const std::string& network, const std::string& container,
                                    const std::vector<std::string>& aliases) const {
  engine::Request request;
  request.method = "POST";
  request.target = "/networks/" + engine::PathEscape(network) + "/connect";
  request.json_body = Dump(json{{"Container", container}, {"EndpointConfig", {{"Aliases", aliases}}}});
  return Call(socket_path_, request, "docker network connect " + network);
}

Status DockerClient::StartContainer(const std::string& id) const {
  engine::Request request;
  request.method = "POST";
  request.target = fmt::format("/containers/{}/start", engine::PathEscape(id));
  return Call(socket_path_, request, "docker start " + id);  // 304: already running, fine
}

Status DockerClient::StopContainer(const std::string& id, int timeout_seconds) const {
  engine::Request request;
  request.method = "POST";
  request.target = fmt::format("/containers/{}/stop?t={}", engine::PathEscape(id), timeout_seconds);
  // Docker answers after the SIGKILL at the latest; leave room beyond the grace period.
  request.timeout_seconds = std::max(timeout_seconds, 0) + 60;
  return Call(socket_path_, request, "docker stop " + id);  // 304: already stopped, fine
}

Status DockerClient::RemoveContainer(const std::string& id, bool force) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = fmt::format("/containers/{}?force={}&v=1", engine::PathEscape(id), force ? 1 : 0);
  return Call(socket_path_, request, "docker rm " + id);
}

Status DockerClient::InspectContainer(const std::string& id, ContainerInfo* out) const {
  engine::Request request;
  request.target = fmt::format("/containers/{}/json", engine::PathEscape(id));
  json j;
  Status s = Call(socket_path_, request, "docker inspect container " + id, &j);
  if (!s.ok()) return s;
  ContainerInfo info;
  const json& state = Obj(j, "State");
  const json& config = Obj(j, "Config");
  info.id = Str(j, "Id");
  info.name = StripSlash(Str(j, "Name"));
  info.image = Str(config, "Image");
  info.image_id = Str(j, "Image");
  info.state = Str(state, "Status");
  info.running = Bool(state, "Running");
  info.exit_code = static_cast<int>(Num(state, "ExitCode"));
  info.oom_killed = Bool(state, "OOMKilled");
  info.error = Str(state, "Error");
  info.started_at = Str(state, "StartedAt");
  info.finished_at = Str(state, "FinishedAt");
  info.restart_count = static_cast<int>(Num(j, "RestartCount"));
  info.health = Str(Obj(state, "Health"), "Status");
  info.labels = LabelsOf(config.value("Labels", json()));
  const json& host = Obj(j, "HostConfig");
  info.limits = {Num(host, "Memory"), Num(host, "NanoCpus"), Num(host, "PidsLimit")};
  info.log_path = Str(j, "LogPath");
  for (const auto& [k, v] : Obj(Obj(host, "LogConfig"), "Config").items())
    if (v.is_string()) info.log_config[k] = v.get<std::string>();
  for (const auto& [name, net] : Obj(Obj(j, "NetworkSettings"), "Networks").items())
    if (net.is_object()) info.networks[name] = Str(net, "IPAddress");
  // The published port: the first one bim asked to publish (HostConfig.PortBindings), else the first
  // exposed port. NetworkSettings.Ports only has bindings while the container runs.
  std::string port_key;
  const json& bindings = Obj(Obj(j, "HostConfig"), "PortBindings");
  if (!bindings.empty()) {
    port_key = bindings.begin().key();
  } else if (const json& exposed = Obj(config, "ExposedPorts"); !exposed.empty()) {
    port_key = exposed.begin().key();
  }
  const json& ports = Obj(Obj(j, "NetworkSettings"), "Ports");
  if (auto it = ports.find(port_key); !port_key.empty() && it != ports.end() && it->is_array()) {
    for (const json& binding : *it) {
      if (binding.is_object() && (info.host_port = ParsePort(Str(binding, "HostPort"))) > 0) break;
    }
  }
  // A stopped (or restarting) container has no live bindings; a port bim chose is in its config.
  if (auto it = bindings.find(port_key); info.host_port == 0 && !port_key.empty() && it != bindings.end() &&
                                         it->is_array()) {
    for (const json& binding : *it) {
      if (binding.is_object() && (info.host_port = ParsePort(Str(binding, "HostPort"))) > 0) break;
    }
  }
  *out = std::move(info);
  return Status::OK();
}

Status DockerClient::ListContainers(const Labels& labels, bool all, std::vector<ContainerInfo>* out) const {
  engine::Request request;
  request.target = fmt::format("/containers/json?all={}&filters={}", all ? 1 : 0, LabelFilter(labels));
  json j;
  Status s = Call(socket_path_, request, "docker list containers", &j);
  if (!s.ok()) return s;
  if (!j.is_array()) return Status::Internal("docker list containers: answer is not a JSON array");
  out->clear();
  for (const json& c : j) {
    if (!c.is_object()) continue;
    ContainerInfo info;
    info.id = Str(c, "Id");
    if (auto names = c.find("Names"); names != c.end() && names->is_array() && !names->empty() &&
                                      (*names)[0].is_string()) {
      info.name = StripSlash((*names)[0].get<std::string>());
    }
    info.image = Str(c, "Image");
    info.image_id = Str(c, "ImageID");
    info.state = Str(c, "State");
    info.running = info.state == "running";
    info.labels = LabelsOf(c.value("Labels", json()));
    if (auto ports = c.find("Ports"); ports != c.end() && ports->is_array()) {
      for (const json& p : *ports) {
        if (p.is_object() && Num(p, "PublicPort") > 0) {
          info.host_port = static_cast<int>(Num(p, "PublicPort"));
          break;
        }
      }
    }
    out->push_back(std::move(info));
  }
  return Status::OK();
}

Status DockerClient::RemoveImage(const std::string& ref, bool force) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = fmt::format("/images/{}?force={}", engine::PathEscape(ref), force ? 1 : 0);
  return Call(socket_path_, request, "docker rmi " + ref);
}

namespace {
ImageInfo ImageFromJson(const json& j, const json& labels) {
  ImageInfo info;
  info.id = Str(j, "Id");
  if (auto tags = j.find("RepoTags"); tags != j.end() && tags->is_array()) {
    for (const json& t : *tags) {
      if (t.is_string() && t.get<std::string>() != "<none>:<none>") info.tags.push_back(t.get<std::string>());
    }
  }
  info.labels = LabelsOf(labels);
  info.size = Num(j, "Size");
  if (auto layers = Obj(j, "RootFS").find("Layers"); layers != Obj(j, "RootFS").end() && layers->is_array()) {
    for (const json& l : *layers)
      if (l.is_string()) info.layers.push_back(l.get<std::string>());
  }
  if (auto triggers = Obj(j, "Config").find("OnBuild"); triggers != Obj(j, "Config").end() && triggers->is_array())
    for (const json& t : *triggers)
      if (t.is_string()) info.on_build.push_back(t.get<std::string>());
  return info;
}
}  // namespace

Status DockerClient::InspectImage(const std::string& ref, ImageInfo* out) const {
  engine::Request request;
  request.target = fmt::format("/images/{}/json", engine::PathEscape(ref));
  json j;
  Status s = Call(socket_path_, request, "docker inspect image " + ref, &j);
  if (!s.ok()) return s;
  if (!j.is_object()) return Status::Internal("docker inspect image " + ref + ": answer is not a JSON object");
  *out = ImageFromJson(j, Obj(j, "Config").value("Labels", json()));
  return Status::OK();
}

Status DockerClient::ListImages(const Labels& labels, std::vector<ImageInfo>* out) const {
  engine::Request request;
  request.target = "/images/json?filters=" + LabelFilter(labels);
  json j;
  Status s = Call(socket_path_, request, "docker list images", &j);
  if (!s.ok()) return s;
  if (!j.is_array()) return Status::Internal("docker list images: answer is not a JSON array");
  out->clear();
  for (const json& image : j) {
    if (image.is_object()) out->push_back(ImageFromJson(image, image.value("Labels", json())));
  }
  return Status::OK();
}

}  // namespace bim
