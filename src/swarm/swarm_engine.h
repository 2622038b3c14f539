// SwarmEngine: the Engine on a Docker Swarm cluster. bimd talks to the dockerd of a Swarm manager;
// Swarm decides where tasks run, restarts them and reschedules them off failed hosts. bim does not
// schedule anything itself.
//
// One Swarm service per release: a workload "bim-shop-v7" is the service "bim-shop-v7" with N replica
// tasks. A release therefore never updates a running service: the Deployer starts the new release's
// service beside the old one, probes every new task itself, points the route at them, and only then
// removes the old service. That keeps the order under bim's control; Swarm's own start-first update
// would stop an old task as soon as its replacement is merely *running* (images need no HEALTHCHECK
// here, and many are FROM scratch without a shell to run one).
//
// Networking works without IPVS (absent on some kernels, which breaks Swarm's VIP endpoints and
// ingress mesh): the container port is published in host mode, so each task listens on a port of its
// own node (Swarm picks a free one), endpoint mode is dnsrr, and an instance's endpoint is its node's
// address plus that port. An instance is `running` only while its task runs, its node is ready and
// active, and its port is known, so nothing routes to a task on a node Swarm reports down.
//
// Instances: one per replica slot, the slot's current task. `restarts` counts the earlier tasks Swarm
// kept for that slot (tasks it replaced after they exited or their node failed, up to Swarm's task
// history limit); `exit_code` and `error` come from the last of them that failed, or the current task.
//
// Events: WatchEvents polls services, tasks and nodes every options.poll_interval and reports a task
// that starts running (kStarted) or stops running, is removed or loses its node (kDied).
//
// Volumes: a named volume is local to one node, so a workload that mounts volumes is pinned there by a
// placement constraint (node.id==...). The node is chosen when a workload first mounts the volume (the
// ready, active node that meets the workload's placement and holds the fewest pinned volumes) and
// recorded as a node label, im.backend.bim.volume.<volume>, whose value is the volume's labels (JSON);
// every later workload mounting it is placed on that node, so its data is there at every release. If
// that node is down, the workload waits for it (its tasks stay pending) instead of starting elsewhere
// on an empty volume. The first task creates the volume on its node (a local volume with the labels).
// bimd reaches only the manager's dockerd: sizes, copies (backup/restore) and freezes of a volume are
// refused, and RemoveVolume removes the data only of a volume on the manager itself.
//
// Healthchecks: a task with one is "starting" until it is healthy, and Swarm replaces it when it turns
// unhealthy, so an instance's health is "healthy" while its task runs, else "starting" or "unhealthy".
//
// Images: PublishImage pushes a locally built image to bimd's registry (Docker sends only the layers
// the registry lacks) and returns "<registry>/<repo>:<tag>@<digest>", which every node pulls by digest.
//
// Thread-safety: all methods may be called from many threads at once. Ownership: the Registry and the
// DockerClient are not owned and must outlive the engine.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "docker/docker_client.h"
#include "docker/engine.h"
#include "docker/swarm_client.h"
#include "swarm/registry.h"

namespace bim {

struct SwarmEngineOptions {
  std::string docker_socket = "/var/run/docker.sock";  // a Swarm manager's dockerd
  std::chrono::milliseconds poll_interval{500};         // WatchEvents' view of tasks and nodes
  std::chrono::milliseconds restart_delay{1000};        // Swarm waits this long before replacing a task
};

class SwarmEngine : public Engine {
 public:
  SwarmEngine(SwarmEngineOptions options, DockerClient* docker, Registry* registry);

  // Creates the service (a leftover service of the same name, from a crashed attempt, is replaced),
  // pinned to the node of its volumes (chosen and recorded now for a volume mounted the first time).
  // InvalidArgument for a restart policy Swarm does not have; FailedPrecondition with Swarm's reason
  // when it refuses the spec, when no node can take a new volume, or when the volumes it mounts are
  // pinned to different nodes.
  Status Start(const WorkloadSpec& spec, Workload* out) override;
  Status Inspect(const std::string& name, Workload* out) override;
  // Removes the service and returns once its tasks have stopped (Swarm stops each with the stop grace
  // the workload was started with), or after grace_seconds + 10 s.
  Status Remove(const std::string& name, int grace_seconds) override;
  Status List(const Labels& labels, std::vector<Workload>* out) override;
  Status Logs(const std::string& name, int tail, bool follow, const LineSink& on_line,
              const CancelCheck& cancelled) override;
  Status WatchEvents(const Labels& labels, const EventHandler& on_event, const CancelCheck& cancelled) override;
  Status PublishImage(const std::string& local_ref, std::string* engine_ref) override;
  // Every node of the swarm with the current tasks of our workloads on it. pull_error is set when
  // the node's latest such task could not get its image and none has run there since.
  Status Nodes(const Labels& labels, std::vector<EngineNode>* out) override;
  // Named volumes, pinned to a node each (see above). EnsureVolume has nothing to do (Start pins, the
  // first task creates). ListVolumes: the pinned volumes whose labels match (sizes not measured: -1).
  // RemoveVolume forgets the pin, and removes
  // the volume if it is on the manager; for one on another node it is FailedPrecondition naming the
  // node and the command to run there. Freeze, ExportVolume and ImportVolume are FailedPrecondition.
  Status CheckVolumeCopies() const override;
  Status Freeze(const std::string& name, bool frozen) override;
  Status EnsureVolume(const VolumeSpec& spec) override;
  Status ListVolumes(const Labels& labels, bool sizes, std::vector<VolumeInfo>* out) override;
  Status RemoveVolume(const std::string& name) override;
  Status ExportVolume(const VolumeSpec& spec, const std::string& image, const ByteSink& on_data) override;
  Status ImportVolume(const VolumeSpec& spec, const std::string& image, const std::string& tar_file) override;
  // Overlay networks (attachable), so tasks on every node can join them.
  Status EnsureNetwork(const NetworkSpec& spec) override;
  Status RemoveNetwork(const std::string& name) override;

  SwarmClient& swarm() { return swarm_; }

 private:
  // Workloads for `services` from one read of their tasks and of the nodes.
  Status Describe(const std::vector<ServiceInfo>& services, std::vector<Workload>* out);
  // Places `service` on the node the volumes of `spec` are kept on, pinning them now if none is
  // (ChooseVolumeNode), and labels the volumes its first task creates. (swarm_volumes.cpp)
  Status PinVolumes(const WorkloadSpec& spec, SwarmServiceSpec* service);

  const SwarmEngineOptions options_;
  DockerClient* docker_;
  Registry* registry_;
  SwarmClient swarm_;
};

// Builds workloads from what Swarm reported (pure; SwarmEngine's view of tasks, kept apart so it can
// be tested without a swarm). Tasks of services not listed are ignored.
std::vector<Workload> WorkloadsFromTasks(const std::vector<ServiceInfo>& services, const std::vector<TaskInfo>& tasks,
                                         const std::vector<NodeInfo>& nodes);

// The node label that records where a volume is kept (its value: the volume's labels as JSON).
inline constexpr const char* kVolumePinPrefix = "im.backend.bim.volume.";

// Where a workload mounting `volumes` must run (pure): the node they are pinned to (FailedPrecondition
// if to two different nodes); if none is, the usable node that meets `placement` (as far as it can
// be judged here: node.id, node.hostname, node.role and node.labels with == and !=) with the fewest
// pinned volumes, by hostname on a tie (FailedPrecondition if none). *unpinned: the volumes to record
// on *node_id now.
Status ChooseVolumeNode(const std::vector<NodeInfo>& nodes, const std::vector<std::string>& volumes,
                        const std::vector<std::string>& placement, std::string* node_id,
                        std::vector<std::string>* unpinned);

// True when a task's error says its node could not get the image.
bool IsPullError(const std::string& task_error);

}  // namespace bim
