#include "docker/swarm_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "docker/engine_json.h"

namespace bim {
namespace {

using engine_json::Arr;
using engine_json::Bool;
using engine_json::Dump;
using engine_json::LabelsOf;
using engine_json::Num;
using engine_json::Obj;
using engine_json::Str;
using json = nlohmann::json;

// Like engine_json::Call, with Swarm's way of answering: 503 means "not a manager" or "not in / already in
// a swarm" (Unavailable for reads, FailedPrecondition for init/join), 400 means Swarm refused the
// request (a bad constraint, an image reference it cannot use).
Status SwarmCall(const std::string& socket, const engine::Request& request, const std::string& what,
                 json* parsed = nullptr, bool precondition_on_503 = false) {
  engine::Response response;
  Status s = engine::Perform(socket, request, &response);
  if (!s.ok()) return s;
  if (response.status == 503 || response.status == 400) {
    Status e = engine::ErrorStatus(response, what);
    std::string message = e.message();
    if (size_t at = message.rfind(" (HTTP "); at != std::string::npos) message.resize(at);
    if (response.status == 503 && !precondition_on_503) return Status::Unavailable(message);
    return Status::FailedPrecondition(message);
  }
  if (response.status >= 400) {
    // Swarm's manager passes its gRPC errors through: "rpc error: code = Unknown desc = <the reason>".
    Status e = engine::ErrorStatus(response, what);
    std::string message = e.message();
    if (size_t at = message.find("rpc error: code = "); at != std::string::npos) {
      if (size_t desc = message.find("desc = ", at); desc != std::string::npos) message.erase(at, desc + 7 - at);
    }
    return Status(e.code(), message);
  }
  if (parsed) {
    *parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (parsed->is_discarded()) return Status::Internal(what + ": dockerd answered with invalid JSON");
  }
  return Status::OK();
}

engine::Request Post(std::string target, const json& body) {
  engine::Request request;
  request.method = "POST";
  request.target = std::move(target);
  request.json_body = Dump(body);
  return request;
}

engine::Request Get(std::string target) {
  engine::Request request;
  request.target = std::move(target);
  return request;
}

json Strings(const std::vector<std::string>& v) { return json(v); }

json SpecJson(const SwarmServiceSpec& spec) {
  json container = {{"Image", spec.image},
                    {"Labels", engine_json::LabelsJson(spec.container_labels)},
                    {"Env", Strings(spec.env)},
                    {"StopGracePeriod", int64_t{spec.stop_grace_seconds} * 1000000000}};
  if (!spec.entrypoint.empty()) container["Command"] = Strings(spec.entrypoint);
  if (!spec.args.empty()) container["Args"] = Strings(spec.args);
  if (!spec.volumes.empty()) {
    json mounts = json::array();
    for (const auto& m : spec.volumes) {
      json mount = {{"Type", "volume"}, {"Source", m.volume}, {"Target", m.target}, {"ReadOnly", m.read_only}};
      if (auto labels = spec.volume_labels.find(m.volume); labels != spec.volume_labels.end())
        mount["VolumeOptions"] = {{"Labels", engine_json::LabelsJson(labels->second)}};
      mounts.push_back(mount);
    }
    container["Mounts"] = mounts;
  }
  if (!spec.healthcheck.test.empty()) container["Healthcheck"] = engine_json::HealthcheckJson(spec.healthcheck);
  json limits = json::object();
  if (spec.limits.memory_bytes > 0) limits["MemoryBytes"] = spec.limits.memory_bytes;
  if (spec.limits.nano_cpus > 0) limits["NanoCPUs"] = spec.limits.nano_cpus;
  if (spec.limits.pids > 0) limits["Pids"] = spec.limits.pids;
  json task = {{"ContainerSpec", container},
               {"Resources", {{"Limits", limits}}},
               {"RestartPolicy",
                {{"Condition", spec.restart_condition},
                 {"Delay", static_cast<int64_t>(spec.restart_delay.count()) * 1000000}}},
               // Swarm spreads over nodes by default; saying it keeps that true next to constraints.
               {"Placement",
                {{"Constraints", Strings(spec.constraints)},
                 {"Preferences", json::array({{{"Spread", {{"SpreadDescriptor", "node.id"}}}}})}}}};
  if (!spec.logs.max_size.empty() || spec.logs.max_files > 0) {
    json options = json::object();
    if (!spec.logs.max_size.empty()) options["max-size"] = spec.logs.max_size;
    if (spec.logs.max_files > 0) options["max-file"] = std::to_string(spec.logs.max_files);
    task["LogDriver"] = {{"Name", "json-file"}, {"Options", options}};
  }
  if (!spec.networks.empty()) {
    json networks = json::array();
    for (const auto& n : spec.networks) networks.push_back({{"Target", n.network}, {"Aliases", Strings(n.aliases)}});
    task["Networks"] = networks;
  }
  json endpoint = {{"Mode", "dnsrr"}, {"Ports", json::array()}};
  if (spec.target_port > 0) {
    endpoint["Ports"].push_back({{"Protocol", "tcp"}, {"TargetPort", spec.target_port}, {"PublishMode", "host"}});
  }
  return {{"Name", spec.name},
          {"Labels", engine_json::LabelsJson(spec.labels)},
          {"TaskTemplate", task},
          {"Mode", {{"Replicated", {{"Replicas", spec.replicas}}}}},
          {"EndpointSpec", endpoint}};
}

ServiceInfo ServiceFromJson(const json& j) {
  ServiceInfo info;
  const json& spec = Obj(j, "Spec");
  info.id = Str(j, "ID");
  info.name = Str(spec, "Name");
  info.labels = LabelsOf(spec.value("Labels", json()));
  info.image = Str(Obj(Obj(spec, "TaskTemplate"), "ContainerSpec"), "Image");
  info.replicas = static_cast<int>(Num(Obj(Obj(spec, "Mode"), "Replicated"), "Replicas"));
  for (const json& p : Arr(Obj(spec, "EndpointSpec"), "Ports")) {
    if (Num(p, "TargetPort") > 0) {
      info.target_port = static_cast<int>(Num(p, "TargetPort"));
      break;
    }
  }
  const json& test = Arr(Obj(Obj(Obj(spec, "TaskTemplate"), "ContainerSpec"), "Healthcheck"), "Test");
  info.healthcheck = !test.empty() && test[0] != "NONE";
  info.created_at = Str(j, "CreatedAt");
  return info;
}

TaskInfo TaskFromJson(const json& j) {
  TaskInfo t;
  const json& status = Obj(j, "Status");
  t.id = Str(j, "ID");
  t.service_id = Str(j, "ServiceID");
  t.node_id = Str(j, "NodeID");
  t.slot = static_cast<int>(Num(j, "Slot"));
  t.state = Str(status, "State");
  t.desired_state = Str(j, "DesiredState");
  t.message = Str(status, "Message");
  t.error = Str(status, "Err");
  t.timestamp = Str(status, "Timestamp");
  t.created_at = Str(j, "CreatedAt");
  const json& container = Obj(status, "ContainerStatus");
  t.container_id = Str(container, "ContainerID");
  t.exit_code = static_cast<int>(Num(container, "ExitCode"));
  // Docker 20.10 lists each host-mode port twice; the first published one is the task's.
  for (const json& p : Arr(Obj(status, "PortStatus"), "Ports")) {
    if (Num(p, "PublishedPort") > 0) {
      t.published_port = static_cast<int>(Num(p, "PublishedPort"));
      break;
    }
  }
  return t;
}

}  // namespace

SwarmClient::SwarmClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

Status SwarmClient::Info(SwarmState* out) const {
  json j;
  Status s = SwarmCall(socket_path_, Get("/info"), "docker info", &j);
  if (!s.ok()) return s;
  const json& swarm = Obj(j, "Swarm");
  SwarmState state;
  state.local_state = Str(swarm, "LocalNodeState");
  state.is_manager = Bool(swarm, "ControlAvailable");
  state.node_id = Str(swarm, "NodeID");
  state.node_addr = Str(swarm, "NodeAddr");
  state.cluster_id = Str(Obj(swarm, "Cluster"), "ID");
  state.nodes = static_cast<int>(Num(swarm, "Nodes"));
  state.managers = static_cast<int>(Num(swarm, "Managers"));
  state.error = Str(swarm, "Error");
  if (state.local_state.empty()) state.local_state = "inactive";
  *out = std::move(state);
  return Status::OK();
}

Status SwarmClient::Init(const SwarmInitOptions& options, std::string* node_id) const {
  json body = {{"ListenAddr", options.listen_addr}, {"AdvertiseAddr", options.advertise_addr}};
  if (!options.default_addr_pool.empty()) {
    body["DefaultAddrPool"] = Strings(options.default_addr_pool);
    body["SubnetSize"] = options.subnet_size;
  }
  json spec = json::object();
  if (options.heartbeat_period.count() > 0) {
    spec["Dispatcher"] = {{"HeartbeatPeriod", static_cast<int64_t>(options.heartbeat_period.count()) * 1000000}};
  }
  if (options.task_history_limit >= 0) {
    spec["Orchestration"] = {{"TaskHistoryRetentionLimit", options.task_history_limit}};
  }
  if (!spec.empty()) body["Spec"] = spec;
  json answer;
  Status s = SwarmCall(socket_path_, Post("/swarm/init", body), "docker swarm init", &answer,
                       /*precondition_on_503=*/true);
  if (!s.ok()) return s;
  if (node_id) *node_id = answer.is_string() ? answer.get<std::string>() : "";
  return Status::OK();
}

Status SwarmClient::JoinTokens(std::string* worker, std::string* manager) const {
  json j;
  Status s = SwarmCall(socket_path_, Get("/swarm"), "docker swarm inspect", &j);
  if (!s.ok()) return s;
  const json& tokens = Obj(j, "JoinTokens");
  if (worker) *worker = Str(tokens, "Worker");
  if (manager) *manager = Str(tokens, "Manager");
  return Status::OK();
}

Status SwarmClient::Join(const SwarmJoinOptions& options) const {
  json body = {{"ListenAddr", options.listen_addr},
               {"AdvertiseAddr", options.advertise_addr},
               {"RemoteAddrs", Strings(options.remote_addrs)},
               {"JoinToken", options.join_token}};
  engine::Request request = Post("/swarm/join", body);
  request.timeout_seconds = 60;
  return SwarmCall(socket_path_, request, "docker swarm join", nullptr, /*precondition_on_503=*/true);
}

Status SwarmClient::Leave(bool force) const {
  engine::Request request = Post(fmt::format("/swarm/leave?force={}", force ? 1 : 0), json::object());
  request.json_body.clear();
  Status s = SwarmCall(socket_path_, request, "docker swarm leave", nullptr, /*precondition_on_503=*/true);
  // "This node is not part of a swarm": already where the caller wants it.
  if (!s.ok() && s.message().find("not part of a swarm") != std::string::npos) return Status::OK();
  return s;
}

Status SwarmClient::ListNodes(std::vector<NodeInfo>* out) const {
  json j;
  Status s = SwarmCall(socket_path_, Get("/nodes"), "docker node ls", &j);
  if (!s.ok()) return s;
  out->clear();
  for (const json& n : j.is_array() ? j : json::array()) {
    NodeInfo node;
    const json& spec = Obj(n, "Spec");
    const json& status = Obj(n, "Status");
    const json& manager = Obj(n, "ManagerStatus");
    node.id = Str(n, "ID");
    node.hostname = Str(Obj(n, "Description"), "Hostname");
    node.address = Str(status, "Addr");
    node.role = Str(spec, "Role");
    node.availability = Str(spec, "Availability");
    node.state = Str(status, "State");
    node.message = Str(status, "Message");
    node.leader = Bool(manager, "Leader");
    node.reachability = Str(manager, "Reachability");
    node.engine_version = Str(Obj(Obj(n, "Description"), "Engine"), "EngineVersion");
    node.labels = LabelsOf(spec.value("Labels", json()));
    // A manager reports 0.0.0.0 as its Status.Addr on some versions; its manager address is right.
    if ((node.address.empty() || node.address == "0.0.0.0") && !Str(manager, "Addr").empty()) {
      node.address = Str(manager, "Addr").substr(0, Str(manager, "Addr").rfind(':'));
    }
    out->push_back(std::move(node));
  }
  std::sort(out->begin(), out->end(), [](const NodeInfo& a, const NodeInfo& b) { return a.address < b.address; });
  return Status::OK();
}

Status SwarmClient::UpdateNode(const std::string& id, const Labels& labels, const std::string& availability,
                               const std::vector<std::string>& remove) const {
  json node;
  std::string what = "docker node update " + id;
  Status s = SwarmCall(socket_path_, Get("/nodes/" + engine::PathEscape(id)), what, &node);
  if (!s.ok()) return s;
  json spec = Obj(node, "Spec");
  if (!spec.contains("Labels") || !spec["Labels"].is_object()) spec["Labels"] = json::object();
  for (const auto& [k, v] : labels) spec["Labels"][k] = v;
  for (const auto& k : remove) spec["Labels"].erase(k);
  if (!availability.empty()) spec["Availability"] = availability;
  long long version = Num(Obj(node, "Version"), "Index");
  return SwarmCall(socket_path_, Post(fmt::format("/nodes/{}/update?version={}", engine::PathEscape(id), version), spec),
                   what);
}

Status SwarmClient::RemoveNode(const std::string& id, bool force) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = fmt::format("/nodes/{}?force={}", engine::PathEscape(id), force ? 1 : 0);
  Status s = SwarmCall(socket_path_, request, "docker node rm " + id);
  return s.IsNotFound() ? Status::OK() : s;
}

Status SwarmClient::CreateService(const SwarmServiceSpec& spec, std::string* id) const {
  json answer;
  std::string what = "docker service create " + spec.name;
  Status s = SwarmCall(socket_path_, Post("/services/create", SpecJson(spec)), what, &answer);
  if (!s.ok()) return s;
  std::string created = Str(answer, "ID");
  if (created.empty()) return Status::Internal(what + ": answer has no ID");
  if (id) *id = created;
  return Status::OK();
}

Status SwarmClient::InspectService(const std::string& id_or_name, ServiceInfo* out) const {
  json j;
  Status s = SwarmCall(socket_path_, Get("/services/" + engine::PathEscape(id_or_name)),
                       "docker service inspect " + id_or_name, &j);
  if (!s.ok()) return s;
  *out = ServiceFromJson(j);
  return Status::OK();
}

Status SwarmClient::ListServices(const Labels& labels, std::vector<ServiceInfo>* out) const {
  json j;
  Status s = SwarmCall(socket_path_, Get("/services?filters=" + engine_json::Filters(labels)), "docker service ls", &j);
  if (!s.ok()) return s;
  out->clear();
  for (const json& service : j.is_array() ? j : json::array()) out->push_back(ServiceFromJson(service));
  return Status::OK();
}

Status SwarmClient::RemoveService(const std::string& id_or_name) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = "/services/" + engine::PathEscape(id_or_name);
  return SwarmCall(socket_path_, request, "docker service rm " + id_or_name);
}

Status SwarmClient::ListTasks(const TaskFilter& filter, std::vector<TaskInfo>* out) const {
  json extra = json::object();
  if (!filter.services.empty()) extra["service"] = Strings(filter.services);
  if (!filter.desired_state.empty()) extra["desired-state"] = {filter.desired_state};
  if (!filter.node.empty()) extra["node"] = {filter.node};
  json j;
  Status s = SwarmCall(socket_path_, Get("/tasks?filters=" + engine_json::Filters({}, extra)), "docker service ps", &j);
  if (!s.ok()) return s;
  out->clear();
  for (const json& task : j.is_array() ? j : json::array()) out->push_back(TaskFromJson(task));
  return Status::OK();
}

Status SwarmClient::CreateNetwork(const std::string& name, const Labels& labels, bool internal) const {
  json body = {{"Name", name},
               {"Driver", "overlay"},
               {"Attachable", true},
               {"Internal", internal},
               {"CheckDuplicate", true},
               {"Labels", engine_json::LabelsJson(labels)}};
  std::string what = "docker network create " + name;
  engine::Request request = Post("/networks/create", body);
  Status s = SwarmCall(socket_path_, request, what);
  // Docker answers a taken name with 409 (newer) or 403/500 "already exists" (20.10).
  if (!s.ok() && s.message().find("already exists") != std::string::npos) return Status::Conflict(s.message());
  return s;
}

Status SwarmClient::NetworkExists(const std::string& name, bool* exists) const {
  Status s = SwarmCall(socket_path_, Get("/networks/" + engine::PathEscape(name)), "docker network inspect " + name);
  *exists = s.ok();
  return s.IsNotFound() ? Status::OK() : s;
}

Status SwarmClient::RemoveNetwork(const std::string& name) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = "/networks/" + engine::PathEscape(name);
  Status s = SwarmCall(socket_path_, request, "docker network rm " + name);
  if (!s.ok() && s.message().find("in use") != std::string::npos) return Status::FailedPrecondition(s.message());
  return s;
}

Status SwarmClient::ServiceLogs(const std::string& id_or_name, int tail, bool follow, const LineSink& on_line,
                                const CancelCheck& cancelled) const {
  return engine::StreamLogs(
      socket_path_,
      fmt::format("/services/{}/logs?{}", engine::PathEscape(id_or_name), engine::LogQuery(tail, follow)), follow,
      on_line, cancelled, "docker service logs " + id_or_name);
}

}  // namespace bim
