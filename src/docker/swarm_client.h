// SwarmClient: Docker Swarm through the Engine API (v1.41) of one dockerd: the swarm itself (state,
// init, join, leave), its nodes, services and their tasks. It never runs the `docker` CLI. Membership,
// placement, restarts and rescheduling stay Swarm's; this is only a typed way to ask for them.
//
// Which calls need what: Info, Init, Join and Leave work on any dockerd; everything else must be sent
// to a manager (a worker answers 503 "This node is not a swarm manager", returned as Unavailable).
//
// Thread-safety: like DockerClient, every call makes its own connection, so one SwarmClient may be used
// from many threads at once. Errors: Unavailable when the socket does not answer or the node is not a
// manager, NotFound for a missing service/node, Conflict for a name that is taken, FailedPrecondition
// when Swarm refuses a request (with Swarm's own message), Internal for an unexpected answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "docker/docker_client.h"

namespace bim {

// What the local dockerd knows of its swarm (GET /info, "Swarm").
struct SwarmState {
  std::string local_state;  // "inactive", "pending", "active", "error" or "locked"
  bool is_manager = false;  // ControlAvailable: this dockerd can manage the swarm
  std::string node_id;
  std::string node_addr;    // the address this node advertises to the others
  std::string cluster_id;
  int nodes = 0;
  int managers = 0;
  std::string error;        // why the swarm is in "error", if it is
  bool active() const { return local_state == "active"; }
};

struct SwarmInitOptions {
  std::string listen_addr;     // "10.0.0.1:2377"
  std::string advertise_addr;  // "10.0.0.1": what other nodes connect to
  // Subnets overlay networks are carved from (e.g. {"10.211.0.0/16"}); empty: Docker's 10.0.0.0/8,
  // which must not overlap the hosts' own network.
  std::vector<std::string> default_addr_pool;
  int subnet_size = 24;
  // How often nodes report to the managers; a node silent for a few periods is marked down and its
  // tasks are rescheduled. 0: Docker's default (5 s).
  std::chrono::milliseconds heartbeat_period{0};
  int task_history_limit = -1;  // finished tasks kept per slot; -1: Docker's default (5)
};

struct SwarmJoinOptions {
  std::string listen_addr;                // "10.0.0.2:2377"
  std::string advertise_addr;             // "10.0.0.2"
  std::vector<std::string> remote_addrs;  // managers to contact, "10.0.0.1:2377"
  std::string join_token;                 // the worker or manager token (JoinTokens)
};

struct NodeInfo {
  std::string id;
  std::string hostname;
  std::string address;       // Status.Addr: where the node is reached
  std::string role;          // "manager" or "worker"
  std::string availability;  // "active", "pause" or "drain"
  std::string state;         // "ready", "down", "disconnected" or "unknown"
  std::string message;       // Swarm's word on the state ("heartbeat failure", ...)
  bool leader = false;
  std::string reachability;  // managers: "reachable" or "unreachable"; workers: ""
  std::string engine_version;
  Labels labels;             // node labels, for placement constraints (node.labels.KEY==VALUE)
  // Tasks may run here and be routed to.
  bool usable() const { return state == "ready" && availability == "active"; }
};

struct SwarmServiceSpec {
  std::string name;                     // unique in the swarm
  Labels labels;                        // on the service (for listing)
  Labels container_labels;              // on each task's container
  std::string image;                    // a reference every node can pull, ideally pinned by digest
  std::vector<std::string> env;         // "KEY=VALUE"
  std::vector<std::string> entrypoint;  // empty: the image's
  std::vector<std::string> args;        // empty: the image's CMD
  int replicas = 1;
  // The container port published in host mode: each task gets a free port on its own node (read it
  // from TaskInfo::published_port). 0: nothing published. Host mode, because IPVS (needed by Swarm's
  // VIP endpoints and ingress mesh) may be absent; the endpoint mode is dnsrr for the same reason.
  int target_port = 0;
  std::vector<std::string> constraints;  // "node.labels.zone==a", "node.role!=manager", ...
  std::string restart_condition = "any";  // "none", "on-failure" or "any"
  std::chrono::milliseconds restart_delay{1000};
  int stop_grace_seconds = 10;           // SIGTERM, then SIGKILL after this long
  ResourceLimits limits;                 // per task
  LogLimits logs;                        // json-file rotation
  std::vector<NetworkAttachment> networks;  // overlay networks, with DNS aliases
  std::vector<VolumeMount> volumes;      // named volumes (local to the node a task runs on)
  // Labels a volume (by name) gets when a task creates it on its node.
  std::map<std::string, Labels> volume_labels;
  ContainerHealthcheck healthcheck;      // empty test: the image's; a task is "running" once healthy
};

struct ServiceInfo {
  std::string id;
  std::string name;
  Labels labels;
  std::string image;
  int replicas = 0;
  int target_port = 0;
  bool healthcheck = false;  // its tasks run a healthcheck (they stay "starting" until healthy)
  std::string created_at;  // RFC 3339
};

struct TaskInfo {
  std::string id;
  std::string service_id;
  std::string node_id;       // "" while unassigned
  int slot = 0;
  std::string state;         // "new", "pending", "assigned", "preparing", "starting", "running",
                             // "complete", "failed", "shutdown", "rejected", "orphaned", "remove"
  std::string desired_state; // "running", "shutdown", ...
  std::string message;
  std::string error;         // why it failed or was rejected ("No such image: ..."), if it did
  std::string container_id;
  int exit_code = 0;
  int published_port = 0;    // host-mode port on its node, once running; 0 otherwise
  std::string timestamp;     // when the state last changed (RFC 3339)
  std::string created_at;    // when Swarm made the task (RFC 3339); orders a slot's tasks
  bool running() const { return state == "running" && desired_state == "running"; }
};

struct TaskFilter {
  std::vector<std::string> services;  // ids or names; empty: every service
  std::string desired_state;          // "running", "shutdown", "accepted"; "": any
  std::string node;                   // node id; "": any
};

class SwarmClient {
 public:
  explicit SwarmClient(std::string socket_path = "/var/run/docker.sock");

  // The local node's view of its swarm. OK with local_state "inactive" when not in one.
  Status Info(SwarmState* out) const;
  // Makes this dockerd the first manager of a new swarm; sets *node_id. FailedPrecondition if it
  // already is in one.
  Status Init(const SwarmInitOptions& options, std::string* node_id) const;
  // The tokens others join with (manager only).
  Status JoinTokens(std::string* worker, std::string* manager) const;
  // Joins an existing swarm. FailedPrecondition if already in one or the managers refuse.
  Status Join(const SwarmJoinOptions& options) const;
  // Leaves the swarm (force: even as the last manager). OK if not in one.
  Status Leave(bool force) const;

  Status ListNodes(std::vector<NodeInfo>* out) const;
  // Sets a node's labels (merged over its existing ones), removes the labels named in `remove` and,
  // if not "", sets its availability. Fails if the node changed since it was read (read it again and retry).
  Status UpdateNode(const std::string& id, const Labels& labels, const std::string& availability,
                    const std::vector<std::string>& remove = {}) const;

  // Removes a node from the swarm's list (force: even if Swarm still sees it up). OK if it is gone.
  Status RemoveNode(const std::string& id, bool force) const;

  // Creates a replicated service; sets *id. Conflict if the name is taken. Swarm accepts a service
  // it cannot place (the tasks stay pending): read the tasks to see why.
  Status CreateService(const SwarmServiceSpec& spec, std::string* id) const;
  Status InspectService(const std::string& id_or_name, ServiceInfo* out) const;
  // Services carrying every label in `labels` (value "" matches any value).
  Status ListServices(const Labels& labels, std::vector<ServiceInfo>* out) const;
  // Removes the service; Swarm then stops its tasks (each with its stop grace). NotFound if missing.
  Status RemoveService(const std::string& id_or_name) const;
  Status ListTasks(const TaskFilter& filter, std::vector<TaskInfo>* out) const;
  // Creates an overlay network every node can use (attachable, so plain containers may join too).
  // Conflict if the name is taken.
  Status CreateNetwork(const std::string& name, const Labels& labels, bool internal) const;
  // OK (with *exists) whether or not the network is there.
  Status NetworkExists(const std::string& name, bool* exists) const;
  // Removes a network. NotFound if it does not exist; FailedPrecondition while tasks use it.
  Status RemoveNetwork(const std::string& name) const;

  // The service's logs from every task, demultiplexed into lines (tail < 0: all). With follow, blocks
  // until `cancelled` returns true (then OK).
  Status ServiceLogs(const std::string& id_or_name, int tail, bool follow, const LineSink& on_line,
                     const CancelCheck& cancelled = nullptr) const;

  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
};

}  // namespace bim
