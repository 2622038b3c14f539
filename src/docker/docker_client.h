// DockerClient: the one seam between bim and the Docker Engine. It speaks the Engine API (v1.41, what
// Debian 12's docker.io serves) over the unix socket with libcurl; it never runs the `docker` CLI.
//
// Thread-safety: every method creates its own connection, so one DockerClient may be used from many
// threads at once. Methods block until the Engine answers (or the cancel callback says stop).
// Errors: Unavailable when the socket does not answer (message names the socket and says to start
// dockerd), NotFound for a missing container/image, FailedPrecondition for a failed build (with
// Docker's own error line), Internal for an unexpected answer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

using Labels = std::map<std::string, std::string>;
// Receives one line of output (no trailing newline). Called on the calling thread.
using LineSink = std::function<void(std::string_view line)>;
// Polled while a long call runs; returning true aborts the call with Status::Cancelled.
using CancelCheck = std::function<bool()>;

// Longest line of build output or container log delivered to a LineSink; a longer one arrives cut
// here with " [line truncated]" appended (tenants control these streams; bimd holds one line at most).
inline constexpr size_t kMaxOutputLineBytes = 16 * 1024;

// Resource limits of a container, or of each step of a build (0 = no limit).
struct ResourceLimits {
  int64_t memory_bytes = 0;          // memory; swap is not allowed beyond it
  int64_t nano_cpus = 0;             // CPU time, in billionths of a CPU (1.5 CPUs = 1500000000)
  int64_t pids = 0;                  // processes and threads
};

struct BuildOptions {
  std::string context_tar_path;      // a tar (optionally gzip) file holding the build context
  std::string tag;                   // e.g. "bim/hello:v3"
  std::string dockerfile = "Dockerfile";
  Labels labels;                     // set on the image
  std::map<std::string, std::string> build_args;  // the Dockerfile's ARGs (`buildargs`), validated by the caller
  std::string network;               // the network RUN steps join ("" = Docker's default bridge)
  // Memory and CPU of each build step. (The classic builder has no pids limit of its own: pass a
  // cgroup_parent that carries one.)
  ResourceLimits limits;
  std::string cgroup_parent;         // cgroup the build steps' containers are created under ("" = Docker's)
  // The build cache may only reuse steps of these images' histories; empty = every local image.
  // (Docker's cache otherwise answers "Using cache" for any app's identical step: an oracle that
  // tells one tenant what another's files hold.)
  std::vector<std::string> cache_from;
};

// A named volume mounted into a container (created by Docker on first use; kept until removed).
struct VolumeMount {
  std::string volume;                // volume name
  std::string target;                // absolute path inside the container
  bool read_only = false;
};

// A network a container joins, with the DNS names other members reach it by.
struct NetworkAttachment {
  std::string network;
  std::vector<std::string> aliases;
};

// Docker's json-file log rotation; empty/0 means Docker's default (no rotation).
struct LogLimits {
  std::string max_size;              // e.g. "10m"
  int max_files = 0;
};

// Docker's HEALTHCHECK for a container (overrides the image's). Empty test: the image's own, if any.
struct ContainerHealthcheck {
  std::vector<std::string> test;     // {"CMD", "/bin/check"}, {"CMD-SHELL", "curl -f ..."}
  int64_t interval_ms = 0;           // 0: Docker's default (30s)
  int64_t timeout_ms = 0;            // 0: Docker's default (30s)
  int64_t start_period_ms = 0;
  int retries = 0;                   // 0: Docker's default (3)
  bool operator==(const ContainerHealthcheck&) const = default;
};

// A named volume as Docker reports it.
struct VolumeInfo {
  std::string name;
  Labels labels;
  int64_t size_bytes = -1;           // -1: not measured
  std::string created_at;            // RFC 3339
};

// Receives a stream of bytes (a tar archive) piece by piece; returning false stops it (Cancelled).
using ByteSink = std::function<bool(std::string_view chunk)>;

struct ContainerSpec {
  std::string name;                  // Docker container name, e.g. "bim-hello-v3"
  std::string image;                 // tag or id
  std::vector<std::string> env;      // "KEY=VALUE" entries
  Labels labels;
  int container_port = 8080;         // the app's port inside the container (tcp); 0: publish nothing
  std::string host_ip = "127.0.0.1"; // publish only on loopback
  int host_port = 0;                 // 0: let Docker pick a free port (read it back with Inspect)
  std::string restart_policy = "unless-stopped";  // "no", "always", "unless-stopped", "on-failure"
  int stop_timeout_seconds = 10;     // SIGTERM grace before SIGKILL on stop
  std::vector<std::string> command;     // empty: the image's CMD
  std::vector<std::string> entrypoint;  // empty: the image's ENTRYPOINT
  std::vector<VolumeMount> volumes;
  std::vector<NetworkAttachment> networks;  // empty: Docker's default bridge
  ResourceLimits limits;
  LogLimits logs;
  // Hardening: capabilities dropped (e.g. "NET_RAW": no raw sockets to forge packets with) and
  // no-new-privileges (setuid binaries in the image cannot raise privileges).
  std::vector<std::string> cap_drop;
  bool no_new_privileges = false;
  // Docker's init (tini, shipped with docker.io) runs as PID 1 and passes signals on to the app, so
  // SIGTERM stops an app that installs no handler of its own (PID 1 ignores default-action signals)
  // and zombies are reaped.
  bool init = true;
  ContainerHealthcheck healthcheck;
};

struct ContainerInfo {
  std::string id;
  std::string name;                  // without the leading '/'
  std::string image;                 // the image reference the container was created from
  std::string image_id;
  std::string state;                 // "created", "running", "restarting", "exited", "dead", ...
  bool running = false;
  int exit_code = 0;
  int restart_count = 0;
  bool oom_killed = false;
  std::string error;                 // Docker's State.Error, if any
  std::string started_at;            // RFC 3339 as Docker reports it
  std::string finished_at;
  int host_port = 0;                 // the published host port for ContainerSpec::container_port, 0 if none
  Labels labels;
  std::map<std::string, std::string> networks;  // network name -> the container's IPv4 address on it
  ResourceLimits limits;             // as created (HostConfig)
  std::string log_path;              // the json-file log's path on the host
  std::map<std::string, std::string> log_config;  // HostConfig.LogConfig.Config (max-size, max-file)
  std::string health;                // "" (no healthcheck), "starting", "healthy" or "unhealthy" (inspect only)
};

struct ImageInfo {
  std::string id;                    // "sha256:..."
  std::vector<std::string> tags;
  Labels labels;
  long long size = 0;
  std::vector<std::string> layers;   // diff ids ("sha256:..."), bottom first (RootFS.Layers; InspectImage only)
  std::vector<std::string> on_build;  // ONBUILD triggers (Config.OnBuild), run by a child's build
};

struct BridgeNetworkSpec {
  std::string name;                  // Docker network name
  Labels labels;
  bool internal = false;             // no route out of the network
  std::string bridge_name;           // the Linux bridge's name ("" = Docker's br-<id>); 15 chars at most
  std::string subnet;                // IPv4 CIDR the network gets ("" = one from Docker's default pools)
};

struct NetworkInfo {
  std::string id;
  std::string name;
  Labels labels;
  std::string bridge_name;           // com.docker.network.bridge.name, "" if Docker chose it
  std::string subnet;                // "172.19.0.0/16"
  std::string gateway;               // "172.19.0.1": the host's address on the network
  std::vector<std::string> containers;  // ids of attached containers
};

// What a push did. A registry is sent only the layers it lacks: Docker asks it about each layer first.
struct PushResult {
  std::string digest;        // the pushed manifest, "sha256:..."
  int layers_pushed = 0;     // layers the registry did not have
  int layers_present = 0;    // layers it had already ("Layer already exists")
};

// The image operations bimd runs on its own dockerd: builds and housekeeping. DockerClient implements
// it; the Deployer depends only on this, so its unit tests can substitute a fake. Contracts are those
// of the DockerClient methods of the same names.
class ImageBuilder {
 public:
  virtual ~ImageBuilder() = default;
  virtual Status BuildImage(const BuildOptions& options, const LineSink& on_output, std::string* image_id,
                            const CancelCheck& cancelled = nullptr) const = 0;
  virtual Status RemoveImage(const std::string& ref, bool force) const = 0;
  virtual Status InspectImage(const std::string& ref, ImageInfo* out) const = 0;
  virtual Status ListImages(const Labels& labels, std::vector<ImageInfo>* out) const = 0;
  // `bim deploy --build local`: an uploaded image archive is loaded and tagged (see DockerClient).
  virtual Status LoadImage(const std::string& path, std::vector<std::string>* loaded) const = 0;
  virtual Status TagImage(const std::string& ref, const std::string& repo, const std::string& tag) const = 0;
  virtual Status PullImage(const std::string& ref, const LineSink& on_output, const CancelCheck& cancelled) const = 0;
};

// Where dockerd listens unless told otherwise (ServerOptions::docker_socket defaults to it).
inline constexpr const char* kDefaultDockerSocket = "/var/run/docker.sock";

class DockerClient : public ImageBuilder {
 public:
  explicit DockerClient(std::string socket_path = kDefaultDockerSocket);

  // OK if the Engine answers /_ping.
  Status Ping() const;

  // POST /build with the context tar streamed from disk (classic builder). Each line of build output
  // ("Step 1/3 : FROM scratch", ...) goes to `on_output` as it arrives. On success sets *image_id
  // ("sha256:..."). A failed build returns FailedPrecondition with Docker's error message.
  Status BuildImage(const BuildOptions& options, const LineSink& on_output, std::string* image_id,
                    const CancelCheck& cancelled = nullptr) const override;

  // Creates (does not start) a container; sets *id. Conflict if the name is taken. The first of
  // spec.networks is joined at creation, the others right after (Engine API 1.41 takes one network
  // at create); on a failure to join, the container is removed again.
  Status CreateContainer(const ContainerSpec& spec, std::string* id) const;
  Status StartContainer(const std::string& id) const;
  // Sends SIGTERM, then SIGKILL after `timeout_seconds`. OK if already stopped.
  Status StopContainer(const std::string& id, int timeout_seconds) const;
  // Removes the container (force: kill it first if running). NotFound if it does not exist.
  Status RemoveContainer(const std::string& id, bool force) const;
  Status InspectContainer(const std::string& id, ContainerInfo* out) const;
  // Containers carrying every label in `labels` (value "" matches any value); `all` includes stopped.
  Status ListContainers(const Labels& labels, bool all, std::vector<ContainerInfo>* out) const;
  // Container stdout+stderr, demultiplexed into lines. tail < 0 means all. With follow, blocks
  // streaming new lines until the container stops or `cancelled` returns true (then returns OK).
  Status ContainerLogs(const std::string& id, int tail, bool follow, const LineSink& on_line,
                       const CancelCheck& cancelled = nullptr) const;

  // Follows Docker's event stream for containers carrying `labels`: `on_event` gets every "start" and
  // "die" event, with the container's id, labels and (for "die") exit code. Blocks until `cancelled`
  // returns true (then OK) or the stream breaks (Unavailable; the caller may call again).
  using ContainerEventHandler =
      std::function<void(const std::string& action, const std::string& id, const Labels& labels, int exit_code)>;
  Status WatchContainerEvents(const Labels& labels, const ContainerEventHandler& on_event,
                              const CancelCheck& cancelled) const;

  // Joins a created or running container to a network with DNS aliases.
  Status ConnectNetwork(const std::string& network, const std::string& container,
                        const std::vector<std::string>& aliases) const;

  // Named volumes (docker_volumes.cpp). Create is idempotent: an existing volume of that name is OK
  // and left as it is. Remove: NotFound if absent, Conflict while a container (even a stopped one)
  // uses it. List: volumes carrying every label in `labels`, with their disk usage if `sizes`
  // (Docker measures every volume for that: slower).
  Status CreateVolume(const std::string& name, const Labels& labels) const;
  Status RemoveVolume(const std::string& name) const;
  Status ListVolumes(const Labels& labels, bool sizes, std::vector<VolumeInfo>* out) const;

  // Pauses (freezes the processes of) or unpauses a running container. OK if already so.
  Status PauseContainer(const std::string& id, bool paused) const;

  // A tar archive of `path` in the container's file system (volumes mounted into it included; the
  // container may be stopped or never started), streamed to `on_data`. NotFound if the container
  // or path does not exist.
  Status GetArchive(const std::string& container, const std::string& path, const ByteSink& on_data) const;
  // Extracts the tar archive in `tar_file` into directory `path` of the container (created, not
  // necessarily running). InvalidArgument-like errors carry Docker's message.
  Status PutArchive(const std::string& container, const std::string& path, const std::string& tar_file) const;

  // Removes an image by tag or id. With force=false removing a tag only untags when other tags remain.
  // NotFound if it does not exist; Conflict if a container still uses it.
  Status RemoveImage(const std::string& ref, bool force) const override;
  Status InspectImage(const std::string& ref, ImageInfo* out) const override;
  // Pulls `ref` ("postgres:16", "registry.example.com/team/api@sha256:...": one tag, never all of
  // them) from its registry, progress lines to `on_output`. FailedPrecondition with the registry's
  // error when the pull fails (unknown image, registry unreachable, denied).
  Status PullImage(const std::string& ref, const LineSink& on_output, const CancelCheck& cancelled) const override;
  // Images carrying every label in `labels` (value "" matches any value).
  Status ListImages(const Labels& labels, std::vector<ImageInfo>* out) const override;

  // Moving images without a registry (docker_images.cpp).
  // Writes `docker save REF` (a tar: manifest.json, the config, one layer tar per layer) to `path`.
  Status SaveImage(const std::string& ref, const std::string& path) const;
  // `docker load` of the tar at `path`. The daemon skips layer files it already holds, so an archive
  // may leave those out (see ../shared/notes/image-push.md). On success *loaded gets the ids or tags
  // the daemon reports ("sha256:..." / "repo:tag"). FailedPrecondition with Docker's message when the
  // archive is refused (say, it lacks a layer the daemon does not have).
  Status LoadImage(const std::string& path, std::vector<std::string>* loaded) const override;
  // Tags image `ref` as `repo:tag` (replacing that tag if it named another image).
  Status TagImage(const std::string& ref, const std::string& repo, const std::string& tag) const override;
  // Pushes `repo:tag` to the registry `repo` names ("10.0.0.1:5000/bim/hello"), streaming progress
  // lines to `on_output`. FailedPrecondition with Docker's message when the registry refuses or
  // cannot be reached (e.g. dockerd does not trust it: insecure-registries or its CA).
  Status PushImage(const std::string& repo, const std::string& tag, const LineSink& on_output, PushResult* result,
                   const CancelCheck& cancelled = nullptr) const;

  // Bridge networks (docker_networks.cpp). CreateNetwork: Conflict if the name, the bridge name
  // or (overlapping) the subnet is taken. RemoveNetwork: NotFound if absent, FailedPrecondition while containers use it.
  Status CreateNetwork(const BridgeNetworkSpec& spec, std::string* id) const;
  Status RemoveNetwork(const std::string& id_or_name) const;
  Status InspectNetwork(const std::string& id_or_name, NetworkInfo* out) const;
  // Networks carrying every label in `labels` (value "" matches any value).
  Status ListNetworks(const Labels& labels, std::vector<NetworkInfo>* out) const;

  // dockerd's cgroup driver ("cgroupfs" or "systemd"), from /info.
  Status CgroupDriver(std::string* out) const;

  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
};

}  // namespace bim
