// Engine: the seam between the Deployer and whatever runs an app's processes. The Deployer never asks
// "one host, Swarm or Compose?"; it runs *workloads* through an Engine and routes to the endpoints the
// engine reports.
//
// A workload is one service of one release: app "shop", release "v7", service "web" (a plain app has
// just "web"; a Compose app has one workload per service). The engine runs it as a unit: one container
// on one host (LocalEngine), one Swarm service with N tasks on a cluster (SwarmEngine, src/swarm/).
// Each running copy is an *instance* with an endpoint the router can reach (host:port), a state, a
// restart count and its last exit. Instances may come and go while a workload runs (a Swarm task
// rescheduled to another node gets a new endpoint); WatchEvents reports that, so routing can follow.
//
// Names: WorkloadSpec::name is the engine object's name ("bim-shop-v7" for the web service,
// "bim-shop-v7-worker" for another service), unique per bimd instance; every call takes that name.
// Workloads carry the labels in deploy_plan.h (instance, app, release, service), which is how List
// finds them after a crash.
//
// Thread-safety: implementations must allow concurrent calls from several threads (different apps
// release in parallel; status and logs run beside releases).
// Errors: Unavailable when the engine does not answer, NotFound for a workload that does not exist,
// InvalidArgument for a spec the engine cannot run (the message names the field), FailedPrecondition
// for an engine that refused it (e.g. placement cannot be met), each with the engine's own words.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "core/status.h"
#include "docker/docker_client.h"

namespace bim {

// What to run. Fields a given engine cannot honour are refused by Start with InvalidArgument, never
// silently dropped.
struct WorkloadSpec {
  std::string name;                   // engine object name, e.g. "bim-shop-v7"
  std::string image;                  // a reference the engine's nodes can pull (see Engine::PublishImage)
  std::vector<std::string> env;       // "KEY=VALUE"
  Labels labels;                      // put on the workload and every instance (deploy_plan.h labels)
  int container_port = 0;             // the port the app listens on inside; 0: no HTTP endpoint
  int replicas = 1;                   // instances wanted (LocalEngine: exactly 1)
  std::vector<std::string> command;     // empty: the image's CMD
  std::vector<std::string> entrypoint;  // empty: the image's ENTRYPOINT
  std::vector<VolumeMount> volumes;     // named volumes (created on first use, kept until removed)
  std::vector<NetworkAttachment> networks;  // empty: the engine's default network
  ResourceLimits limits;              // 0 fields: unlimited
  LogLimits logs;                     // empty: the engine's default
  std::string restart_policy = "unless-stopped";  // "no", "always", "unless-stopped", "on-failure"
  int stop_grace_seconds = 10;        // SIGTERM, then SIGKILL after this long
  std::vector<std::string> placement; // Swarm constraints ("node.labels.db==true"); LocalEngine: must be empty
  ContainerHealthcheck healthcheck;   // the engine's own health check of each instance; empty test: none
};

// One running (or failed) copy of a workload.
struct Instance {
  std::string id;                     // container id / Swarm task id
  std::string node;                   // the host it runs on; "" on one host
  Endpoint endpoint;                  // where its container_port answers; port 0 when none (yet)
  std::string state;                  // the engine's word: "running", "restarting", "exited", "pending", ...
  bool running = false;               // up and not restarting
  int restarts = 0;                   // how often the engine restarted it since it started
  // It exited (or failed to start, e.g. could not get its image) since the workload started, so it
  // will not become healthy by waiting: a release fails at once on it. Not set for an instance that
  // is merely not started yet, or that moved because its host went down.
  bool failed = false;
  int exit_code = 0;                  // its last exit (0 if it never exited)
  bool oom_killed = false;
  std::string error;                  // the engine's error text for the last failure, if any
  std::string started_at;             // RFC 3339
  std::string finished_at;
  std::string health;                 // WorkloadSpec::healthcheck's verdict: "", "starting", "healthy", "unhealthy"
};

struct Workload {
  std::string name;
  Labels labels;
  std::vector<Instance> instances;    // may be empty while a Swarm service schedules its tasks

  // Endpoints of running instances, sorted (what a router should point at once they are healthy).
  std::vector<Endpoint> RunningEndpoints() const;
};

// Something happened to an instance: it died (exit_code says how), or started (again).
struct InstanceEvent {
  enum class Kind { kStarted, kDied };
  Kind kind = Kind::kDied;
  std::string workload;               // the workload's name
  std::string instance_id;
  Labels labels;                      // the workload's labels
  int exit_code = 0;                  // kDied only
};

struct NetworkSpec {
  std::string name;                   // e.g. "bim-<instance>-<app>"
  Labels labels;
  bool internal = false;              // no route out of the network (no host, no internet)
};

// One host workloads can run on, as `bim nodes` shows it: a Swarm node, or the one local host.
struct EngineNode {
  std::string id;
  std::string hostname;
  std::string address;          // where its instances' endpoints are
  std::string role;             // "manager" or "worker"; "local" for the one host
  std::string availability;     // "active", "pause" or "drain"
  std::string state;            // "ready", "down", "disconnected", "unknown"
  std::string message;          // the engine's word on the state ("heartbeat failure", ...)
  bool leader = false;
  std::string engine_version;
  Labels labels;                // node labels (placement constraints use them)
  struct Task {
    std::string workload;
    Labels labels;              // the workload's labels (app, release)
    std::string state;          // the instance's state
    Endpoint endpoint;          // port 0 while it has none
  };
  std::vector<Task> tasks;      // current instances, on this node, of the workloads asked about
  std::string pull_error;       // this node could not get an image of ours (the engine's words); "" if not
};

// A named volume: created on first use by EnsureVolume, kept across workloads until RemoveVolume.
struct VolumeSpec {
  std::string name;                   // engine name, e.g. "bim-<instance>-<app>.data"
  Labels labels;                      // also put on the helper a volume copy uses
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Starts the workload and returns once the engine accepted it: a local container is running; a
  // Swarm service is created (its tasks may still be scheduling). Poll Inspect for instances and
  // probe their endpoints before routing to them. A leftover object of the same name (a crashed
  // attempt) is replaced. On failure nothing of the workload is left behind.
  virtual Status Start(const WorkloadSpec& spec, Workload* out) = 0;

  // The workload's current instances. NotFound if it does not exist.
  virtual Status Inspect(const std::string& name, Workload* out) = 0;

  // Stops the workload gracefully (SIGTERM, SIGKILL after `grace_seconds`) and removes it; named
  // volumes are kept. OK if it does not exist.
  virtual Status Remove(const std::string& name, int grace_seconds) = 0;

  // Every workload carrying all of `labels` (value "" matches any value), with its instances; stopped
  // ones included. One call, however many workloads exist (reconcile runs it at every start).
  virtual Status List(const Labels& labels, std::vector<Workload>* out) = 0;

  // The workload's stdout+stderr as lines (all instances, interleaved). tail < 0: all. With follow,
  // blocks streaming until the workload stops or `cancelled` returns true (then OK).
  virtual Status Logs(const std::string& name, int tail, bool follow, const LineSink& on_line,
                      const CancelCheck& cancelled) = 0;

  // Follows instance events of workloads carrying `labels`, calling `on_event` on this thread. Blocks
  // until `cancelled` returns true (OK) or the engine's stream breaks (Unavailable; call again).
  using EventHandler = std::function<void(const InstanceEvent& event)>;
  virtual Status WatchEvents(const Labels& labels, const EventHandler& on_event, const CancelCheck& cancelled) = 0;

  // Makes a locally built image available to every node that may run it and sets *engine_ref to the
  // reference to put in WorkloadSpec::image. One host: nothing to do (*engine_ref = local_ref). Swarm:
  // push to bimd's registry, sending only the layers it lacks.
  virtual Status PublishImage(const std::string& local_ref, std::string* engine_ref) = 0;

  // The hosts workloads run on, each with the current instances of the workloads carrying all of
  // `labels`. One host: just itself.
  virtual Status Nodes(const Labels& labels, std::vector<EngineNode>* out) = 0;

  // Pauses (frozen = true) or resumes every instance of the workload: its processes stop being
  // scheduled but keep their memory and open files, so a copy of its volumes taken meanwhile is
  // consistent as of one moment (as after a power cut). NotFound if it does not exist.
  virtual Status Freeze(const std::string& name, bool frozen) = 0;

  // Named volumes. EnsureVolume creates one if missing (an existing one is left as it is, data and
  // all). ListVolumes: every volume carrying all of `labels`, with its size in bytes if `sizes`.
  // RemoveVolume: OK if absent; Conflict while a workload (running or stopped) uses it;
  // FailedPrecondition, one line naming where it is and the command to run there, when the engine
  // keeps it where bimd cannot remove it (Swarm: on another node; Destroy reports that, not a failure).
  virtual Status EnsureVolume(const VolumeSpec& spec) = 0;
  virtual Status ListVolumes(const Labels& labels, bool sizes, std::vector<VolumeInfo>* out) = 0;
  virtual Status RemoveVolume(const std::string& name) = 0;
  // Streams a tar archive of the volume's contents (entries "./", "./file", ...) to `on_data`.
  // `image` is any image the engine can create a container from: a helper that mounts the volume
  // and never runs is made from it (labelled spec.labels) and removed afterwards. Copy while the
  // workloads writing to it are frozen or stopped. NotFound if the volume does not exist.
  virtual Status ExportVolume(const VolumeSpec& spec, const std::string& image, const ByteSink& on_data) = 0;
  // Replaces the volume's contents with the tar archive in `tar_file` (as ExportVolume writes it):
  // the volume is removed, created again (spec.labels) and filled through a helper made from
  // `image`. Conflict while a workload uses the volume (stop them first). On failure the volume may
  // be empty or partly filled; the error says so.
  virtual Status ImportVolume(const VolumeSpec& spec, const std::string& image, const std::string& tar_file) = 0;
  // OK if this engine can copy and freeze volumes (ExportVolume, ImportVolume, Freeze); otherwise
  // FailedPrecondition, one line with the fix: a backup or restore asks before it stops anything.
  virtual Status CheckVolumeCopies() const = 0;

  // Creates the network if it does not exist (same name: OK, left as it is).
  virtual Status EnsureNetwork(const NetworkSpec& spec) = 0;
  // Removes the network. OK if it does not exist; Conflict while a workload still uses it.
  virtual Status RemoveNetwork(const std::string& name) = 0;
};

}  // namespace bim
