// LocalEngine: the Engine on one host, over bimd's own dockerd. A workload is one container named
// WorkloadSpec::name; its one instance publishes container_port on a loopback port LocalEngine picks
// (so the port survives Docker restarting the container, which re-allocates ports it picked itself).
//
// Thread-safety: as DockerClient, every method may be called from many threads at once.
// Ownership: does not own the DockerClient, which must outlive it.
#pragma once

#include <string>

#include "docker/docker_client.h"
#include "docker/engine.h"
#include "docker/network_firewall.h"

namespace bim {

struct LocalEngineOptions {
  std::string publish_ip = "127.0.0.1";  // containers publish their port on this host address only
  int start_attempts = 5;                // a host port taken between our pick and Docker's bind: try another
  // Networks get bridge names this firewall's rules cover (docker/network_firewall.h); nullptr: Docker
  // names them and nothing keeps their containers from the host. Not owned; must outlive the engine.
  const NetworkFirewall* firewall = nullptr;
  // Each app network's subnet: a free /app_subnet_prefix of this pool that no Docker network on the
  // host overlaps (where the search starts depends on the network's name) ("" = Docker picks from its default pools, which hold only about 30 networks).
  // /26 leaves 61 addresses per app (releases overlap during a switch; builds join the network too);
  // 10.192.0.0/12 holds 16,384 of them.
  std::string app_subnet_pool = "10.192.0.0/12";
  int app_subnet_prefix = 26;
  // Every container runs without NET_RAW (no forged packets, no ARP games on its network) and with
  // no-new-privileges (setuid binaries in the image cannot raise privileges).
  bool harden = true;
};

// OK if options' subnet pool is "" or an IPv4 network that holds subnets of app_subnet_prefix;
// InvalidArgument naming the problem otherwise (checked at bimd's start, before anything runs).
Status CheckSubnetPool(const LocalEngineOptions& options);

class LocalEngine : public Engine {
 public:
  explicit LocalEngine(DockerClient* docker, LocalEngineOptions options = {});

  // InvalidArgument for replicas != 1 or placement constraints (one host has one place).
  Status Start(const WorkloadSpec& spec, Workload* out) override;
  Status Inspect(const std::string& name, Workload* out) override;
  Status Remove(const std::string& name, int grace_seconds) override;
  Status List(const Labels& labels, std::vector<Workload>* out) override;
  Status Logs(const std::string& name, int tail, bool follow, const LineSink& on_line,
              const CancelCheck& cancelled) override;
  // Reports Docker's "start" and "die" container events.
  Status WatchEvents(const Labels& labels, const EventHandler& on_event, const CancelCheck& cancelled) override;
  // One host builds where it runs: *engine_ref = local_ref.
  Status PublishImage(const std::string& local_ref, std::string* engine_ref) override;
  // This host alone (role "local"), with its containers of the asked workloads.
  Status Nodes(const Labels& labels, std::vector<EngineNode>* out) override;
  Status Freeze(const std::string& name, bool frozen) override;
  Status EnsureVolume(const VolumeSpec& spec) override;
  Status ListVolumes(const Labels& labels, bool sizes, std::vector<VolumeInfo>* out) override;
  Status RemoveVolume(const std::string& name) override;
  Status ExportVolume(const VolumeSpec& spec, const std::string& image, const ByteSink& on_data) override;
  Status ImportVolume(const VolumeSpec& spec, const std::string& image, const std::string& tar_file) override;
  Status CheckVolumeCopies() const override { return Status::OK(); }
  // A bridge network named spec.name whose Linux bridge the firewall covers, on a subnet of its own from
  // options.app_subnet_pool (a taken random bridge name or subnet is retried). TooLarge when the pool
  // has no free subnet left.
  Status EnsureNetwork(const NetworkSpec& spec) override;
  Status RemoveNetwork(const std::string& name) override;

 private:
  Instance InstanceOf(const ContainerInfo& info) const;
  // A created (never started) container named "<volume>-io" from `image` with the volume mounted at
  // kVolumeMount, for copying files in or out; *name is set even on failure, for cleanup.
  Status VolumeHelper(const VolumeSpec& spec, const std::string& image, std::string* name);
  // The first subnet of the pool from its subnet number `start` on (wrapping) that no network on this
  // dockerd overlaps, as "A.B.C.D/N".
  Status FreeSubnet(uint64_t start, std::string* out);
  DockerClient* docker_;
  const LocalEngineOptions options_;
};

}  // namespace bim
