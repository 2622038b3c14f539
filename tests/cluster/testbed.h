// TestBed: a Docker Swarm of several hosts on one machine, for the cluster suite and bench/.
//
// Each test host is a network namespace with one dockerd of its own (own --data-root, --exec-root,
// --pidfile, unix socket, cgroup parent and hostname); the hosts' veths meet on a bridge that lives in
// a further namespace, so the machine's own network namespace is never touched. Host N has the private
// address <subnet>.(10+N) (default subnet 10.210.0), which exists only inside these namespaces; two
// beds never collide because every namespace, directory and cgroup carries the bed's random id. Each
// dockerd is started with `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which remounts /sys and
// hides the cgroup mounts dockerd needs) and trusts the bed's subnet as an insecure registry, so the
// registry bimd runs on host 1 serves every host. Host 1 initialises the swarm through the Engine API;
// the others join it as workers.
//
// Where bim runs: bimd, its nginx and registry, the `bim` CLI and the tests' load all run inside host 1's
// network namespace (a test process enters it with EnterHostNetwork before it starts any thread), so
// they reach every host's address and each other on host 1's own loopback.
//
// Lifetime: Up() records the bed in <state dir>/<id>.json with an owner pid before it creates anything;
// Down() removes everything the bed made (processes, mounts, cgroups, directories, namespaces) and is
// safe to call on a half-made bed. Up() first tears down beds whose owner process is gone, so a bed
// a killed run left behind is cleaned by the next run.
//
// Thread-safety: none; one thread drives a bed. Needs root (namespaces, mounts, cgroups).
#pragma once

#include <string>
#include <vector>

namespace bim::testing {

struct TestHost {
  std::string name;     // "h1", "h2", ...
  std::string netns;    // "bimc<id>-h1"
  std::string address;  // "10.210.0.11"
  std::string dir;      // this host's data-root, exec-root, socket, pid file and log
  std::string socket;   // its dockerd's unix socket
  std::string node_id;  // its swarm node id
  int dockerd_pid = 0;
  bool trusts_registry = true;
};

struct TestBedOptions {
  int hosts = 3;
  std::string subnet = "10.210.0";  // hosts are <subnet>.11, .12, ...; the overlay pool is kept apart
  std::string state_dir = "/tmp/bim-cluster-beds";
  int owner_pid = 0;                // 0: this process
};

class TestBed {
 public:
  // Creates the namespaces and bridge, starts one dockerd per host and forms the swarm (host 1
  // manager, others workers), waiting until every node is ready. On failure tears down what it made
  // and returns false with *error set.
  static bool Up(const TestBedOptions& options, TestBed* bed, std::string* error);
  // The bed recorded at `state_file`; false if there is none.
  static bool Load(const std::string& state_file, TestBed* bed);
  // The bed owned by process `owner_pid` in `state_dir` (the CTest fixture's beds belong to ctest, the
  // parent of every test process); false if there is none.
  static bool FindByOwner(const std::string& state_dir, int owner_pid, TestBed* bed);
  // Tears down every bed in `state_dir` whose owner process no longer runs. Returns how many.
  static int SweepStale(const std::string& state_dir);

  // Removes everything the bed created, pass or fail, and its state file. Returns false (with
  // *error) if something could not be removed; it still removes everything else.
  bool Down(std::string* error);

  // Starts one more host and joins it to the swarm as a worker. `trusts_registry` false leaves the
  // bed's subnet out of its insecure registries (a host that cannot pull from bimd's registry).
  bool AddHost(bool trusts_registry, TestHost* added, std::string* error);
  // Removes a host added by AddHost: kills its processes, deletes its namespace, and removes its
  // node from the swarm.
  bool RemoveHost(const std::string& name, std::string* error);
  // Simulates the host dying: cuts its link (packets to it are dropped, as with a powered-off machine)
  // and SIGKILLs every process of the host: dockerd, containerd, shims and containers.
  bool KillHost(const std::string& name, std::string* error);

  // Brings a killed host back: restores its link and starts its dockerd again on the same data root,
  // so it rejoins the swarm by itself; returns once the manager sees the node ready.
  bool ReviveHost(const std::string& name, std::string* error);

  // Moves the calling thread into the host's network namespace. Call it before the process starts
  // any thread: threads and child processes created afterwards inherit it.
  bool EnterHostNetwork(const std::string& name, std::string* error) const;

  const std::string& id() const { return id_; }
  const std::string& state_file() const { return state_file_; }
  const std::vector<TestHost>& hosts() const { return hosts_; }
  const TestHost& host(const std::string& name) const;
  const TestHost& manager() const { return hosts_.front(); }
  // "<subnet>.0/24": what every host trusts as an insecure registry.
  std::string subnet_cidr() const { return subnet_ + ".0/24"; }
  int owner_pid() const { return owner_pid_; }

 private:
  bool Save(std::string* error) const;
  bool StartHost(TestHost* host, std::string* error);
  bool StopHost(const TestHost& host, std::string* error);

  std::string id_;
  std::string base_dir_;
  std::string bridge_netns_;
  std::string subnet_;
  std::string state_file_;
  int owner_pid_ = 0;
  std::vector<TestHost> hosts_;
};

}  // namespace bim::testing
