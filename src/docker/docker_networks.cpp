// DockerClient's network calls (bridge networks for app isolation) and daemon facts.
#include <fmt/format.h>

#include "core/ipv4_net.h"
#include "docker/docker_client.h"
#include "docker/engine_http.h"
#include "docker/engine_json.h"

namespace bim {

using namespace engine_json;

namespace {
constexpr const char* kBridgeNameOption = "com.docker.network.bridge.name";

NetworkInfo NetworkFromJson(const json& j) {
  NetworkInfo info;
  info.id = Str(j, "Id");
  info.name = Str(j, "Name");
  info.labels = LabelsOf(j.value("Labels", json()));
  info.bridge_name = Str(Obj(j, "Options"), kBridgeNameOption);
  if (auto config = Obj(j, "IPAM").find("Config"); config != Obj(j, "IPAM").end() && config->is_array()) {
    for (const json& c : *config) {
      if (!c.is_object() || Str(c, "Subnet").find(':') != std::string::npos) continue;  // IPv4 only
      info.subnet = Str(c, "Subnet");
      info.gateway = Str(c, "Gateway");
      break;
    }
  }
  for (const auto& [id, c] : Obj(j, "Containers").items()) info.containers.push_back(id);
  return info;
}
}  // namespace

Status DockerClient::CreateNetwork(const BridgeNetworkSpec& spec, std::string* id) const {
  json body = {{"Name", spec.name}, {"Driver", "bridge"}, {"Internal", spec.internal}, {"CheckDuplicate", true},
               {"Labels", json::object()}};
  for (const auto& [k, v] : spec.labels) body["Labels"][k] = v;
  if (!spec.bridge_name.empty()) body["Options"] = {{kBridgeNameOption, spec.bridge_name}};
  if (!spec.subnet.empty()) {
    // The gateway is named too: Docker picks the same first address by itself, but then leaves it out
    // of the network's description.
    Ipv4Net subnet;
    if (Status s = ParseIpv4Net(spec.subnet, &subnet); !s.ok()) return s.Wrap("network " + spec.name);
    body["IPAM"] = {{"Config", json::array({{{"Subnet", spec.subnet}, {"Gateway", subnet.Host(1)}}})}};
  }
  engine::Request request;
  request.method = "POST";
  request.target = "/networks/create";
  request.json_body = Dump(body);
  json answer;
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  if (!s.ok()) return s;
  std::string what = "docker network create " + spec.name;
  if (response.status >= 400) {
    Status e = engine::ErrorStatus(response, what);
    // A bridge name already in use comes back as a 500 ("... already exists"), a subnet another network
    // took as a 403 ("Pool overlaps with other one on this address space"): conflicts too.
    if (e.message().find("exists") != std::string::npos || e.message().find("overlaps") != std::string::npos)
      return Status::Conflict(e.message());
    return e;
  }
  answer = json::parse(response.body, nullptr, false);
  std::string created = answer.is_object() ? Str(answer, "Id") : "";
  if (created.empty()) return Status::Internal(what + ": answer has no Id");
  if (id) *id = created;
  return Status::OK();
}

Status DockerClient::RemoveNetwork(const std::string& id_or_name) const {
  engine::Request request;
  request.method = "DELETE";
  request.target = "/networks/" + engine::PathEscape(id_or_name);
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  if (!s.ok()) return s;
  if (response.status == 403) return Status::FailedPrecondition(engine::ErrorStatus(response, "docker network rm " + id_or_name).message());
  if (response.status >= 400) return engine::ErrorStatus(response, "docker network rm " + id_or_name);
  return Status::OK();
}

Status DockerClient::InspectNetwork(const std::string& id_or_name, NetworkInfo* out) const {
  engine::Request request;
  request.target = "/networks/" + engine::PathEscape(id_or_name);
  json j;
  Status s = Call(socket_path_, request, "docker network inspect " + id_or_name, &j);
  if (!s.ok()) return s;
  if (!j.is_object()) return Status::Internal("docker network inspect " + id_or_name + ": answer is not a JSON object");
  *out = NetworkFromJson(j);
  return Status::OK();
}

Status DockerClient::ListNetworks(const Labels& labels, std::vector<NetworkInfo>* out) const {
  engine::Request request;
  request.target = "/networks?filters=" + LabelFilter(labels);
  json j;
  Status s = Call(socket_path_, request, "docker network ls", &j);
  if (!s.ok()) return s;
  if (!j.is_array()) return Status::Internal("docker network ls: answer is not a JSON array");
  out->clear();
  for (const json& n : j)
    if (n.is_object()) out->push_back(NetworkFromJson(n));
  return Status::OK();
}

Status DockerClient::CgroupDriver(std::string* out) const {
  engine::Request request;
  request.target = "/info";
  json j;
  Status s = Call(socket_path_, request, "docker info", &j);
  if (!s.ok()) return s;
  *out = j.is_object() ? Str(j, "CgroupDriver") : "";
  return Status::OK();
}

}  // namespace bim
