#include "swarm/swarm_engine.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "base/file_util.h"
#include "core/deploy_plan.h"

namespace bim {
namespace {

// Beyond this many services, one unfiltered task list is cheaper than a filter naming them all.
constexpr size_t kMaxServiceFilter = 20;

bool IsIpv4(const std::string& host) {
  Endpoint e;
  e.host = host;
  e.port = 1;
  return ValidateEndpoint(e).ok();
}

Status SwarmRestartCondition(const std::string& policy, std::string* condition) {
  if (policy == "unless-stopped" || policy == "always") *condition = "any";
  else if (policy == "on-failure") *condition = "on-failure";
  else if (policy == "no") *condition = "none";
  else
    return Status::InvalidArgument("restart policy \"" + policy +
                                   "\" has no Swarm equivalent (use no, on-failure, always or unless-stopped)");
  return Status::OK();
}

// RFC 3339 times as Docker writes them ("...:16.9Z", "...:16.907754851Z": trailing zeros trimmed), with
// the fraction padded to nanoseconds so that comparing the strings compares the times.
std::string Sortable(const std::string& t) {
  size_t dot = t.find('.'), z = t.find_first_of("Z+", t.find('T') == std::string::npos ? 0 : t.find('T'));
  if (z == std::string::npos) return t;
  std::string fraction = dot != std::string::npos && dot < z ? t.substr(dot + 1, z - dot - 1) : "";
  fraction.resize(9, '0');
  return t.substr(0, dot != std::string::npos && dot < z ? dot : z) + "." + fraction + t.substr(z);
}

// The tasks of one replica slot, oldest first, and the one that stands for the slot now: the newest
// Swarm wants running, else the newest.
struct Slot {
  std::vector<const TaskInfo*> tasks;
  size_t current = 0;
};

std::map<int, Slot> SlotsOf(const std::vector<const TaskInfo*>& tasks) {
  std::map<int, Slot> slots;
  for (const TaskInfo* t : tasks) slots[t->slot].tasks.push_back(t);
  for (auto& [n, slot] : slots) {
    std::sort(slot.tasks.begin(), slot.tasks.end(),
              [](const TaskInfo* a, const TaskInfo* b) { return Sortable(a->created_at) < Sortable(b->created_at); });
    slot.current = slot.tasks.size() - 1;
    for (size_t i = slot.tasks.size(); i-- > 0;) {
      if (slot.tasks[i]->desired_state == "running") {
        slot.current = i;
        break;
      }
    }
  }
  return slots;
}

// The task stopped by itself: it exited, failed to start, or could not be placed on its node.
bool EndedOnItsOwn(const TaskInfo& t) { return t.state == "failed" || t.state == "rejected" || t.state == "complete"; }

Instance InstanceOf(const Slot& slot, const std::map<std::string, const NodeInfo*>& nodes, const ServiceInfo& service) {
  const TaskInfo& t = *slot.tasks[slot.current];
  Instance i;
  i.id = t.id;
  i.state = t.state;
  i.error = t.error;
  auto node = nodes.find(t.node_id);
  if (node != nodes.end()) {
    i.node = node->second->hostname.empty() ? node->second->id : node->second->hostname;
    i.endpoint.host = node->second->address;
    if (!node->second->usable()) {
      i.state = "node " + node->second->state + (node->second->availability != "active"
                                                     ? " (" + node->second->availability + ")" : "");
    }
  } else if (!t.node_id.empty()) {
    i.node = t.node_id;
    i.state = "node gone";
  }
  i.endpoint.port = t.published_port;
  bool node_ok = node != nodes.end() && node->second->usable();
  // A service without a port (a worker) has no endpoint to wait for.
  bool port_ok = service.target_port == 0 || t.published_port > 0;
  i.running = t.running() && node_ok && port_ok && (service.target_port == 0 || IsIpv4(i.endpoint.host));
  if (t.running() && node_ok && service.target_port > 0 && t.published_port > 0 && !IsIpv4(i.endpoint.host)) {
    i.error = "node " + i.node + " advertises " + i.endpoint.host + ", not an IPv4 address bim can route to";
  }
  if (t.running()) i.started_at = t.timestamp;
  // Earlier tasks of the slot are ones Swarm replaced. Those that ended on their own (exited, could
  // not start) are restarts, and the last of them gives the exit; tasks moved off a failed node are not.
  const TaskInfo* last_failure = nullptr;
  for (size_t k = 0; k < slot.current; ++k) {
    if (!EndedOnItsOwn(*slot.tasks[k])) continue;
    ++i.restarts;
    last_failure = slot.tasks[k];
  }
  if (last_failure) {
    i.exit_code = last_failure->exit_code;
    i.finished_at = last_failure->timestamp;
    if (i.error.empty()) i.error = last_failure->error;
  }
  if (EndedOnItsOwn(t)) {
    i.exit_code = t.exit_code;
    i.finished_at = t.timestamp;
  }
  i.failed = i.restarts > 0 || EndedOnItsOwn(t);
  // Swarm holds a task with a healthcheck in "starting" until it is healthy, and fails it when it
  // turns unhealthy ("... unhealthy container").
  if (service.healthcheck)
    i.health = t.running() ? "healthy" : t.error.find("unhealthy") != std::string::npos ? "unhealthy" : "starting";
  return i;
}

}  // namespace

bool IsPullError(const std::string& e) {
  for (const char* sign : {"No such image", "pull access denied", "manifest unknown", "server gave HTTP response to HTTPS",
                           "x509:", "error pulling image", "failed to resolve reference"}) {
    if (e.find(sign) != std::string::npos) return true;
  }
  return false;
}

std::vector<Workload> WorkloadsFromTasks(const std::vector<ServiceInfo>& services, const std::vector<TaskInfo>& tasks,
                                         const std::vector<NodeInfo>& nodes) {
  std::map<std::string, const NodeInfo*> node_by_id;
  for (const auto& n : nodes) node_by_id[n.id] = &n;
  std::map<std::string, std::vector<const TaskInfo*>> by_service;
  for (const auto& t : tasks) by_service[t.service_id].push_back(&t);
  std::vector<Workload> out;
  for (const auto& service : services) {
    Workload w;
    w.name = service.name;
    w.labels = service.labels;
    for (const auto& [n, slot] : SlotsOf(by_service[service.id])) {
      // Slots above the replica count are tasks of a scale-down being removed.
      if (n > service.replicas) continue;
      w.instances.push_back(InstanceOf(slot, node_by_id, service));
    }
    out.push_back(std::move(w));
  }
  return out;
}

SwarmEngine::SwarmEngine(SwarmEngineOptions options, DockerClient* docker, Registry* registry)
    : options_(std::move(options)), docker_(docker), registry_(registry), swarm_(options_.docker_socket) {}

Status SwarmEngine::Start(const WorkloadSpec& spec, Workload* out) {
  if (spec.replicas < 1) return Status::InvalidArgument("replicas must be at least 1");
  SwarmServiceSpec service;
  Status s = SwarmRestartCondition(spec.restart_policy, &service.restart_condition);
  if (!s.ok()) return s;
  service.name = spec.name;
  service.labels = spec.labels;
  service.container_labels = spec.labels;
  service.image = spec.image;
  service.env = spec.env;
  service.entrypoint = spec.entrypoint;
  service.args = spec.command;
  service.replicas = spec.replicas;
  service.target_port = spec.container_port;
  service.constraints = spec.placement;
  service.restart_delay = options_.restart_delay;
  service.stop_grace_seconds = spec.stop_grace_seconds;
  service.limits = spec.limits;
  service.logs = spec.logs;
  service.networks = spec.networks;
  service.volumes = spec.volumes;
  service.healthcheck = spec.healthcheck;
  if (!spec.volumes.empty() && !(s = PinVolumes(spec, &service)).ok()) return s;
  s = swarm_.CreateService(service, nullptr);
  if (s.code() == Code::kConflict) {  // a leftover of a crashed attempt with this name
    if (Status r = swarm_.RemoveService(spec.name); !r.ok() && !r.IsNotFound()) return r.Wrap("replacing " + spec.name);
    s = swarm_.CreateService(service, nullptr);
  }
  if (!s.ok()) return s;
  return Inspect(spec.name, out);
}

Status SwarmEngine::Describe(const std::vector<ServiceInfo>& services, std::vector<Workload>* out) {
  out->clear();
  if (services.empty()) return Status::OK();
  TaskFilter filter;
  if (services.size() <= kMaxServiceFilter)
    for (const auto& s : services) filter.services.push_back(s.id);
  std::vector<TaskInfo> tasks;
  std::vector<NodeInfo> nodes;
  Status s = swarm_.ListTasks(filter, &tasks);
  if (s.ok()) s = swarm_.ListNodes(&nodes);
  if (!s.ok()) return s;
  *out = WorkloadsFromTasks(services, tasks, nodes);
  return Status::OK();
}

Status SwarmEngine::Inspect(const std::string& name, Workload* out) {
  ServiceInfo service;
  Status s = swarm_.InspectService(name, &service);
  if (!s.ok()) return s;
  std::vector<Workload> found;
  if (!(s = Describe({service}, &found)).ok()) return s;
  *out = std::move(found.front());
  return Status::OK();
}

Status SwarmEngine::Remove(const std::string& name, int grace_seconds) {
  // Swarm stops the tasks with the grace given at Start; `grace_seconds` is the same number (the
  // Deployer passes its options' stop timeout both times).
  ServiceInfo service;
  Status s = swarm_.InspectService(name, &service);
  if (s.ok()) s = swarm_.RemoveService(service.id);
  if (s.IsNotFound()) return Status::OK();
  if (!s.ok()) return s;
  // Swarm stops the tasks after the service is gone. Returning once they have stopped keeps a
  // stop-first replacement (a database on its volume, a singleton) from overlapping the old one.
  // Tasks of a removed service can no longer be filtered by it: all are listed and matched by id.
  for (long long until = MonotonicMillis() + (grace_seconds + 10) * 1000LL; MonotonicMillis() < until;) {
    std::vector<TaskInfo> tasks;
    if (!swarm_.ListTasks(TaskFilter{}, &tasks).ok()) break;
    bool alive = std::any_of(tasks.begin(), tasks.end(), [&](const TaskInfo& t) {
      return t.service_id == service.id && (t.state == "running" || t.state == "starting" || t.state == "ready" ||
                                            t.state == "preparing" || t.state == "accepted" || t.state == "assigned");
    });
    if (!alive) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::OK();
}

Status SwarmEngine::List(const Labels& labels, std::vector<Workload>* out) {
  std::vector<ServiceInfo> services;
  Status s = swarm_.ListServices(labels, &services);
  if (!s.ok()) return s;
  return Describe(services, out);
}

Status SwarmEngine::Logs(const std::string& name, int tail, bool follow, const LineSink& on_line,
                         const CancelCheck& cancelled) {
  return swarm_.ServiceLogs(name, tail, follow, on_line, cancelled);
}

Status SwarmEngine::WatchEvents(const Labels& labels, const EventHandler& on_event, const CancelCheck& cancelled) {
  struct Seen {
    bool running = false;
    std::string workload;
    Labels labels;
  };
  std::map<std::string, Seen> seen;  // by instance (task) id
  bool baseline = true;              // the first look only records what exists
  while (!(cancelled && cancelled())) {
    std::vector<Workload> workloads;
    Status s = List(labels, &workloads);
    if (!s.ok()) return s;
    std::map<std::string, Seen> now;
    for (const auto& w : workloads) {
      for (const auto& i : w.instances) {
        now[i.id] = {i.running, w.name, w.labels};
        auto before = seen.find(i.id);
        bool was_running = before != seen.end() && before->second.running;
        if (baseline || i.running == was_running) continue;
        InstanceEvent e;
        e.kind = i.running ? InstanceEvent::Kind::kStarted : InstanceEvent::Kind::kDied;
        e.workload = w.name;
        e.instance_id = i.id;
        e.labels = w.labels;
        e.exit_code = i.exit_code;
        on_event(e);
      }
    }
    // A running task that vanished (its service removed, or replaced and pruned) died too.
    for (const auto& [id, was] : seen) {
      if (!was.running || now.count(id)) continue;
      InstanceEvent e;
      e.kind = InstanceEvent::Kind::kDied;
      e.workload = was.workload;
      e.instance_id = id;
      e.labels = was.labels;
      on_event(e);
    }
    seen = std::move(now);
    baseline = false;
    for (auto waited = std::chrono::milliseconds(0); waited < options_.poll_interval && !(cancelled && cancelled());
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status::OK();
}

Status SwarmEngine::PublishImage(const std::string& local_ref, std::string* engine_ref) {
  // "bim/shop:v7" -> repository "bim/shop", tag "v7".
  size_t colon = local_ref.rfind(':');
  if (colon == std::string::npos || local_ref.find('/', colon) != std::string::npos)
    return Status::InvalidArgument("image reference \"" + local_ref + "\" has no tag");
  std::string path = local_ref.substr(0, colon), tag = local_ref.substr(colon + 1);
  std::string repo = registry_->Repository(path);
  Status s = docker_->TagImage(local_ref, repo, tag);
  if (!s.ok()) return s.Wrap("publishing " + local_ref);
  PushResult pushed;
  s = docker_->PushImage(repo, tag, nullptr, &pushed);
  // The registry's name for the image is only needed while pushing; the local tag stays the image's name.
  docker_->RemoveImage(repo + ":" + tag, false);
  if (!s.ok()) {
    return Status(s.code(), "pushing " + local_ref + " to the cluster's registry at " + registry_->address() +
                                " failed: " + s.message() + " (check that bimd's dockerd trusts that registry)");
  }
  *engine_ref = repo + ":" + tag + "@" + pushed.digest;
  return Status::OK();
}

Status SwarmEngine::EnsureNetwork(const NetworkSpec& spec) {
  bool exists = false;
  Status s = swarm_.NetworkExists(spec.name, &exists);
  if (!s.ok() || exists) return s;
  s = swarm_.CreateNetwork(spec.name, spec.labels, spec.internal);
  return s.code() == Code::kConflict ? Status::OK() : s;  // made meanwhile by a concurrent release
}

Status SwarmEngine::RemoveNetwork(const std::string& name) {
  Status s = swarm_.RemoveNetwork(name);
  if (s.IsNotFound()) return Status::OK();
  if (s.code() == Code::kFailedPrecondition) return Status::Conflict(s.message());
  return s;
}

Status SwarmEngine::Nodes(const Labels& labels, std::vector<EngineNode>* out) {
  std::vector<NodeInfo> nodes;
  std::vector<ServiceInfo> services;
  std::vector<TaskInfo> tasks;
  Status s = swarm_.ListNodes(&nodes);
  if (s.ok()) s = swarm_.ListServices(labels, &services);
  if (s.ok() && !services.empty()) {
    TaskFilter filter;
    if (services.size() <= kMaxServiceFilter)
      for (const auto& svc : services) filter.services.push_back(svc.id);
    s = swarm_.ListTasks(filter, &tasks);
  }
  if (!s.ok()) return s;
  std::map<std::string, const ServiceInfo*> service_by_id;
  for (const auto& svc : services) service_by_id[svc.id] = &svc;
  out->clear();
  for (const auto& n : nodes) {
    EngineNode node{n.id, n.hostname, n.address, n.role, n.availability, n.state, n.message,
                    n.leader, n.engine_version, n.labels, {}, ""};
    std::erase_if(node.labels, [](const auto& l) { return l.first.starts_with(kVolumePinPrefix); });  // bim's own records
    std::string latest_ok, latest_pull_failure;  // Sortable timestamps
    for (const auto& t : tasks) {
      auto svc = service_by_id.find(t.service_id);
      if (t.node_id != n.id || svc == service_by_id.end()) continue;
      if (t.desired_state == "running")
        node.tasks.push_back({svc->second->name, svc->second->labels, t.state, Endpoint{n.address, t.published_port}});
      std::string at = Sortable(t.timestamp);
      if (t.state == "running" && at > latest_ok) latest_ok = at;
      if (IsPullError(t.error) && at > latest_pull_failure) {
        latest_pull_failure = at;
        node.pull_error = t.error;
      }
    }
    // A pull that failed before a later task of ours ran there is history, not a warning.
    if (!latest_ok.empty() && latest_ok > latest_pull_failure) node.pull_error.clear();
    out->push_back(std::move(node));
  }
  return Status::OK();
}

}  // namespace bim
