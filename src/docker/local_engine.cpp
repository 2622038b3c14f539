#include "docker/local_engine.h"

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "base/health_probe.h"
#include "core/ipv4_net.h"

namespace bim {

LocalEngine::LocalEngine(DockerClient* docker, LocalEngineOptions options)
    : docker_(docker), options_(std::move(options)) {}

Instance LocalEngine::InstanceOf(const ContainerInfo& info) const {
  Instance i;
  i.id = info.id;
  i.state = info.state;
  // Docker keeps State.Running true while it waits to restart a crashed container.
  i.running = info.running && info.state == "running";
  i.restarts = info.restart_count;
  i.failed = info.restart_count > 0 || info.state == "exited" || info.state == "dead" || info.state == "restarting";
  i.exit_code = info.exit_code;
  i.oom_killed = info.oom_killed;
  i.error = info.error;
  i.started_at = info.started_at;
  i.finished_at = info.finished_at;
  i.health = info.health;
  if (info.host_port > 0) i.endpoint = Endpoint{options_.publish_ip, info.host_port};
  return i;
}

Status LocalEngine::Start(const WorkloadSpec& spec, Workload* out) {
  if (spec.replicas != 1)
    return Status::InvalidArgument("one host runs exactly 1 replica of " + spec.name + " (asked for " +
                                   std::to_string(spec.replicas) + "); set [deploy] replicas = 1 or run bimd on a Swarm");
  if (!spec.placement.empty())
    return Status::InvalidArgument("placement constraints need a Swarm cluster; remove them from " + spec.name);
  ContainerSpec c;
  c.name = spec.name;
  c.image = spec.image;
  c.env = spec.env;
  c.labels = spec.labels;
  c.container_port = spec.container_port;
  c.host_ip = options_.publish_ip;
  c.restart_policy = spec.restart_policy;
  c.stop_timeout_seconds = spec.stop_grace_seconds;
  c.command = spec.command;
  c.entrypoint = spec.entrypoint;
  c.volumes = spec.volumes;
  c.networks = spec.networks;
  c.limits = spec.limits;
  c.logs = spec.logs;
  if (options_.harden) {
    c.cap_drop = {"NET_RAW"};
    c.no_new_privileges = true;
  }
  c.healthcheck = spec.healthcheck;

  Status s;
  std::string id;
  // We choose the host port (instead of letting Docker pick) so it survives container restarts:
  // Docker re-allocates ports it picked on every start. A port taken between our pick and Docker's
  // bind fails the start; then try another.
  for (int attempt = 0; attempt < options_.start_attempts; ++attempt) {
    if (c.container_port > 0 && !(s = PickFreeLoopbackPort(&c.host_port)).ok()) return s;
    s = docker_->CreateContainer(c, &id);
    if (s.code() == Code::kConflict) {  // a leftover of a crashed attempt with this name
      docker_->RemoveContainer(c.name, true);
      s = docker_->CreateContainer(c, &id);
    }
    if (!s.ok()) return s.Wrap("creating the container");
    s = docker_->StartContainer(id);
    if (s.ok()) break;
    docker_->RemoveContainer(id, true);
  }
  if (!s.ok()) return s.Wrap("starting the container");
  Workload w;
  w.name = spec.name;
  w.labels = spec.labels;
  Instance i;
  i.id = id;
  i.state = "running";
  i.running = true;
  if (c.container_port > 0) i.endpoint = Endpoint{options_.publish_ip, c.host_port};
  w.instances.push_back(std::move(i));
  *out = std::move(w);
  return Status::OK();
}

Status LocalEngine::Inspect(const std::string& name, Workload* out) {
  ContainerInfo info;
  Status s = docker_->InspectContainer(name, &info);
  if (!s.ok()) return s;
  Workload w;
  w.name = info.name;
  w.labels = info.labels;
  w.instances.push_back(InstanceOf(info));
  *out = std::move(w);
  return Status::OK();
}

Status LocalEngine::Remove(const std::string& name, int grace_seconds) {
  Status s = docker_->StopContainer(name, grace_seconds);
  if (s.IsNotFound()) return Status::OK();
  // Stop failing otherwise (dockerd busy) still leaves the forced remove below to do the job.
  s = docker_->RemoveContainer(name, true);
  return s.IsNotFound() ? Status::OK() : s;
}

Status LocalEngine::List(const Labels& labels, std::vector<Workload>* out) {
  std::vector<ContainerInfo> found;
  Status s = docker_->ListContainers(labels, true, &found);
  if (!s.ok()) return s;
  out->clear();
  for (const auto& c : found) {
    Workload w;
    w.name = c.name;
    w.labels = c.labels;
    // The list shows published ports only while a container runs; the port bim chose for a
    // stopped or restarting one (it comes back on it) is in its config.
    ContainerInfo full;
    if (c.host_port == 0 && !c.running && docker_->InspectContainer(c.id, &full).ok())
      w.instances.push_back(InstanceOf(full));
    else
      w.instances.push_back(InstanceOf(c));
    out->push_back(std::move(w));
  }
  return Status::OK();
}

Status LocalEngine::Logs(const std::string& name, int tail, bool follow, const LineSink& on_line,
                         const CancelCheck& cancelled) {
  return docker_->ContainerLogs(name, tail, follow, on_line, cancelled);
}

Status LocalEngine::WatchEvents(const Labels& labels, const EventHandler& on_event, const CancelCheck& cancelled) {
  return docker_->WatchContainerEvents(
      labels,
      [&](const std::string& action, const std::string& id, const Labels& attrs, int exit_code) {
        InstanceEvent e;
        e.kind = action == "start" ? InstanceEvent::Kind::kStarted : InstanceEvent::Kind::kDied;
        e.instance_id = id;
        e.labels = attrs;
        if (auto it = attrs.find("name"); it != attrs.end()) e.workload = it->second;  // the container name
        e.exit_code = exit_code;
        on_event(e);
      },
      cancelled);
}

Status LocalEngine::PublishImage(const std::string& local_ref, std::string* engine_ref) {
  *engine_ref = local_ref;
  return Status::OK();
}

Status LocalEngine::Nodes(const Labels& labels, std::vector<EngineNode>* out) {
  std::vector<ContainerInfo> containers;
  Status s = docker_->ListContainers(labels, true, &containers);
  if (!s.ok()) return s;
  EngineNode node;
  char hostname[256] = {0};
  gethostname(hostname, sizeof hostname - 1);
  node.id = "local";
  node.hostname = hostname;
  node.address = options_.publish_ip;
  node.role = "local";
  node.availability = "active";
  node.state = "ready";
  for (const auto& c : containers) {
    Instance i = InstanceOf(c);
    node.tasks.push_back({c.name, c.labels, i.state, i.endpoint});
  }
  out->assign(1, std::move(node));
  return Status::OK();
}

namespace {
constexpr const char* kVolumeMount = "/bim-volume";
}  // namespace

Status LocalEngine::Freeze(const std::string& name, bool frozen) { return docker_->PauseContainer(name, frozen); }

Status LocalEngine::EnsureVolume(const VolumeSpec& spec) { return docker_->CreateVolume(spec.name, spec.labels); }

Status LocalEngine::ListVolumes(const Labels& labels, bool sizes, std::vector<VolumeInfo>* out) {
  return docker_->ListVolumes(labels, sizes, out);
}

Status LocalEngine::RemoveVolume(const std::string& name) {
  Status s = docker_->RemoveVolume(name);
  return s.IsNotFound() ? Status::OK() : s;
}

Status LocalEngine::VolumeHelper(const VolumeSpec& spec, const std::string& image, std::string* name) {
  ContainerSpec c;
  c.name = *name = spec.name + "-io";
  c.image = image;
  c.labels = spec.labels;
  c.container_port = 0;
  c.restart_policy = "no";
  c.command = {"/bim-volume-copy-never-runs"};  // an image without CMD cannot be created otherwise
  c.volumes = {VolumeMount{spec.name, kVolumeMount, false}};
  Status s = docker_->CreateContainer(c, nullptr);
  if (s.code() == Code::kConflict) {  // a leftover of an interrupted copy
    docker_->RemoveContainer(c.name, true);
    s = docker_->CreateContainer(c, nullptr);
  }
  return s.Wrap("creating a helper to copy volume " + spec.name);
}

Status LocalEngine::ExportVolume(const VolumeSpec& spec, const std::string& image, const ByteSink& on_data) {
  std::vector<VolumeInfo> found;
  Status s = docker_->ListVolumes({}, false, &found);
  if (!s.ok()) return s;
  if (std::none_of(found.begin(), found.end(), [&](const VolumeInfo& v) { return v.name == spec.name; }))
    return Status::NotFound("volume " + spec.name + " does not exist");
  std::string helper;
  s = VolumeHelper(spec, image, &helper);
  // "<dir>/." archives the directory's contents as "./..." entries, as `tar -C dir -c .` would.
  if (s.ok()) s = docker_->GetArchive(helper, std::string(kVolumeMount) + "/.", on_data);
  docker_->RemoveContainer(helper, true);
  return s;
}

Status LocalEngine::ImportVolume(const VolumeSpec& spec, const std::string& image, const std::string& tar_file) {
  Status s = docker_->RemoveVolume(spec.name);
  if (s.code() == Code::kConflict) return Status::Conflict("volume " + spec.name + " is in use: " + s.message());
  if (!s.ok() && !s.IsNotFound()) return s;
  if (!(s = docker_->CreateVolume(spec.name, spec.labels)).ok()) return s;
  std::string helper;
  s = VolumeHelper(spec, image, &helper);
  if (s.ok()) s = docker_->PutArchive(helper, kVolumeMount, tar_file);
  docker_->RemoveContainer(helper, true);
  return s.ok() ? s : s.Wrap("volume " + spec.name + " was emptied and may be partly restored");
}

Status LocalEngine::EnsureNetwork(const NetworkSpec& spec) {
  NetworkInfo info;
  Status s = docker_->InspectNetwork(spec.name, &info);
  if (s.ok()) return Status::OK();
  if (!s.IsNotFound()) return s.Wrap("inspecting network " + spec.name);
  BridgeNetworkSpec bridge{spec.name, spec.labels, spec.internal, "", ""};
  // The bridge's name must match the firewall's pattern for its rules to cover it; a random name that
  // is taken (by chance) fails the creation with Conflict, so try another. Likewise the subnet: another
  // network (of this bimd or anyone else on the host) may take it between the listing and the creation.
  for (int attempt = 0; attempt < options_.start_attempts; ++attempt) {
    if (options_.firewall) bridge.bridge_name = options_.firewall->NewBridgeName();
    // Where the search for a free subnet starts: from the network's name, so that networks created at
    // the same moment (by this bimd or another on the host) rarely pick the same one; a retry after a
    // collision starts elsewhere, once the other creation had time to show in the list.
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    const uint64_t start = std::hash<std::string>{}(spec.name) + static_cast<uint64_t>(attempt) * 7919;
    if (!options_.app_subnet_pool.empty() && !(s = FreeSubnet(start, &bridge.subnet)).ok()) break;
    s = docker_->CreateNetwork(bridge, nullptr);
    // Conflict on the network's own name: created meanwhile by a concurrent call.
    if (s.ok() || (s.code() == Code::kConflict && docker_->InspectNetwork(spec.name, &info).ok())) return Status::OK();
    if (s.code() != Code::kConflict) break;
  }
  return s.Wrap("creating network " + spec.name);
}

Status CheckSubnetPool(const LocalEngineOptions& options) {
  if (options.app_subnet_pool.empty()) return Status::OK();
  Ipv4Net pool, first;
  if (Status s = ParseIpv4Net(options.app_subnet_pool, &pool); !s.ok()) return s;
  return FirstFreeSubnet(pool, options.app_subnet_prefix, {}, &first);
}

Status LocalEngine::FreeSubnet(uint64_t start, std::string* out) {
  Ipv4Net pool;
  if (Status s = ParseIpv4Net(options_.app_subnet_pool, &pool); !s.ok()) return s.Wrap("app subnet pool");
  std::vector<NetworkInfo> networks;
  if (Status s = docker_->ListNetworks({}, &networks); !s.ok()) return s;
  std::vector<Ipv4Net> taken;
  for (const auto& n : networks) {
    Ipv4Net net;
    if (!n.subnet.empty() && ParseIpv4Net(n.subnet, &net).ok()) taken.push_back(net);
  }
  Ipv4Net subnet;
  if (Status s = FirstFreeSubnet(pool, options_.app_subnet_prefix, taken, &subnet, start); !s.ok()) return s;
  *out = subnet.ToString();
  return Status::OK();
}

Status LocalEngine::RemoveNetwork(const std::string& name) {
  Status s = docker_->RemoveNetwork(name);
  if (s.code() == Code::kFailedPrecondition) return Status::Conflict(s.message());  // containers still attached
  return s.IsNotFound() ? Status::OK() : s;
}

}  // namespace bim
