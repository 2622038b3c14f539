#include "cluster/testbed.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "docker/docker_client.h"
#include "docker/swarm_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The overlay networks' pool, apart from the hosts' own subnet.
constexpr const char* kOverlayPool = "10.211.0.0/16";
// Nodes report every 2 s; Swarm marks one down after a few silent periods. Shorter periods flap on a
// busy 2-core machine.
constexpr std::chrono::milliseconds kHeartbeat{2000};

std::string Which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream ss(dirs);
  for (std::string dir; std::getline(ss, dir, ':');) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  }
  return name;
}

bool Ip(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {Which("ip")};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunProcess(argv, {}, 30);
  if (r.exit_code == 0) return true;
  std::string cmd;
  for (const auto& a : argv) cmd += " " + a;
  if (error) *error = "`" + cmd.substr(1) + "` failed: " + r.err;
  return false;
}

bool Alive(int pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

std::string RandomId() {
  std::string s = UniqueSuffix();
  return s.substr(0, 6);
}

// Every pid inside network namespace `netns` (dockerd, containerd, shims, docker-proxy, and whatever a
// test started there).
std::set<int> NetnsPids(const std::string& netns) {
  std::set<int> pids;
  CommandResult r = RunProcess({Which("ip"), "netns", "pids", netns}, {}, 30);
  std::stringstream ss(r.out);
  for (int pid; ss >> pid;) pids.insert(pid);
  return pids;
}

// The cgroup directories named `name` (the host's --cgroup-parent), in each v1 controller hierarchy
// and in the v2 unified one.
std::vector<fs::path> CgroupDirs(const std::string& name) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  if (fs::is_directory("/sys/fs/cgroup/" + name, ec)) dirs.push_back("/sys/fs/cgroup/" + name);
  for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    fs::path candidate = e.path() / name;
    if (e.is_directory(ec) && !e.is_symlink(ec) && fs::is_directory(candidate, ec)) dirs.push_back(candidate);
  }
  return dirs;
}

// The processes of the host's containers: they run in their own network namespaces, but in cgroups
// below the host's cgroup parent.
std::set<int> CgroupPids(const std::string& name) {
  std::set<int> pids;
  std::error_code ec;
  for (const fs::path& dir : CgroupDirs(name)) {
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
      if (e.path().filename() != "cgroup.procs") continue;
      std::ifstream in(e.path());
      for (int pid; in >> pid;) pids.insert(pid);
    }
  }
  return pids;
}

void RemoveCgroups(const std::string& name) {
  std::error_code ec;
  for (const fs::path& dir : CgroupDirs(name)) {
    std::vector<fs::path> subdirs;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
      if (e.is_directory(ec)) subdirs.push_back(e.path());
    std::sort(subdirs.begin(), subdirs.end(), [](const fs::path& a, const fs::path& b) {
      return a.string().size() > b.string().size();
    });
    subdirs.push_back(dir);
    for (const auto& d : subdirs) {
      // A cgroup can be removed once its last process has been reaped; give the kernel a moment.
      for (int i = 0; i < 50 && rmdir(d.c_str()) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

// Unmounts everything mounted below `dir` (overlay layers, the dockerd's network-namespace files),
// deepest first, detaching what is busy.
void UnmountBelow(const std::string& dir) {
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> mounts;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
      std::stringstream ss(line);
      std::string id, parent, dev, root, mount_point;
      ss >> id >> parent >> dev >> root >> mount_point;
      if (mount_point.rfind(dir + "/", 0) == 0) mounts.push_back(mount_point);
    }
    if (mounts.empty()) return;
    std::sort(mounts.begin(), mounts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
  }
}

// SIGKILLs every process of a host until none is left (a dying dockerd may still spawn for a moment).
void KillAll(const std::string& netns, const std::string& cgroup_parent) {
  for (int round = 0; round < 20; ++round) {
    std::set<int> pids = NetnsPids(netns);
    for (int pid : CgroupPids(cgroup_parent)) pids.insert(pid);
    pids.erase(getpid());
    if (pids.empty()) return;
    for (int pid : pids) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string CgroupParent(const std::string& netns) { return netns; }

}  // namespace

const TestHost& TestBed::host(const std::string& name) const {
  for (const auto& h : hosts_)
    if (h.name == name) return h;
  return hosts_.front();
}

bool TestBed::Save(std::string* error) const {
  json hosts = json::array();
  for (const auto& h : hosts_) {
    hosts.push_back({{"name", h.name}, {"netns", h.netns}, {"address", h.address}, {"dir", h.dir},
                     {"socket", h.socket}, {"node_id", h.node_id}, {"dockerd_pid", h.dockerd_pid},
                     {"trusts_registry", h.trusts_registry}});
  }
  json j = {{"id", id_}, {"base_dir", base_dir_}, {"bridge_netns", bridge_netns_}, {"subnet", subnet_},
            {"owner_pid", owner_pid_}, {"hosts", hosts}};
  std::string tmp = state_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      if (error) *error = "cannot write " + tmp;
      return false;
    }
  }
  if (rename(tmp.c_str(), state_file_.c_str()) != 0) {
    if (error) *error = "cannot rename " + tmp + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool TestBed::Load(const std::string& state_file, TestBed* bed) {
  std::ifstream in(state_file);
  if (!in) return false;
  json j = json::parse(in, nullptr, false);
  if (!j.is_object()) return false;
  TestBed b;
  b.state_file_ = state_file;
  b.id_ = j.value("id", "");
  b.base_dir_ = j.value("base_dir", "");
  b.bridge_netns_ = j.value("bridge_netns", "");
  b.subnet_ = j.value("subnet", "");
  b.owner_pid_ = j.value("owner_pid", 0);
  for (const json& h : j.value("hosts", json::array())) {
    TestHost host;
    host.name = h.value("name", "");
    host.netns = h.value("netns", "");
    host.address = h.value("address", "");
    host.dir = h.value("dir", "");
    host.socket = h.value("socket", "");
    host.node_id = h.value("node_id", "");
    host.dockerd_pid = h.value("dockerd_pid", 0);
    host.trusts_registry = h.value("trusts_registry", true);
    b.hosts_.push_back(host);
  }
  if (b.id_.empty() || b.base_dir_.empty()) return false;
  *bed = std::move(b);
  return true;
}

bool TestBed::FindByOwner(const std::string& state_dir, int owner_pid, TestBed* bed) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir, ec)) {
    TestBed b;
    if (e.path().extension() == ".json" && Load(e.path().string(), &b) && b.owner_pid_ == owner_pid) {
      *bed = std::move(b);
      return true;
    }
  }
  return false;
}

int TestBed::SweepStale(const std::string& state_dir) {
  int swept = 0;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(state_dir, ec))
    if (e.path().extension() == ".json") files.push_back(e.path());
  for (const auto& f : files) {
    TestBed b;
    if (Load(f.string(), &b) && !Alive(b.owner_pid_)) {
      std::string ignored;
      b.Down(&ignored);
      ++swept;
    }
  }
  return swept;
}

bool TestBed::Up(const TestBedOptions& options, TestBed* out, std::string* error) {
  std::error_code ec;
  fs::create_directories(options.state_dir, ec);
  SweepStale(options.state_dir);
  TestBed bed;
  bed.id_ = RandomId();
  bed.subnet_ = options.subnet;
  bed.owner_pid_ = options.owner_pid > 0 ? options.owner_pid : getpid();
  // Short: containerd's socket lives below each exec root and unix socket paths are limited to 108 bytes.
  bed.base_dir_ = "/tmp/bimc" + bed.id_;
  bed.bridge_netns_ = "bimc" + bed.id_ + "-br";
  bed.state_file_ = options.state_dir + "/" + bed.id_ + ".json";
  // Recorded first, so a crash from here on leaves something SweepStale can clean.
  fs::create_directories(bed.base_dir_, ec);
  if (!bed.Save(error)) return false;
  auto fail = [&bed](std::string* error) {
    std::string ignored;
    bed.Down(&ignored);
    return false;
  };
  if (!Ip({"netns", "add", bed.bridge_netns_}, error) ||
      !Ip({"-n", bed.bridge_netns_, "link", "set", "lo", "up"}, error) ||
      !Ip({"-n", bed.bridge_netns_, "link", "add", "br0", "type", "bridge"}, error) ||
      !Ip({"-n", bed.bridge_netns_, "link", "set", "br0", "up"}, error)) {
    return fail(error);
  }
  for (int i = 1; i <= options.hosts; ++i) {
    TestHost host;
    if (!bed.AddHost(true, &host, error)) return fail(error);
  }
  *out = std::move(bed);
  return true;
}

bool TestBed::StartHost(TestHost* host, std::string* error) {
  std::error_code ec;
  fs::create_directories(host->dir, ec);
  std::string log = host->dir + "/dockerd.log";
  std::vector<std::string> args = {Which("dockerd"),
                                   "--data-root", host->dir + "/data",
                                   "--exec-root", host->dir + "/x",
                                   "--pidfile", host->dir + "/dockerd.pid",
                                   "-H", "unix://" + host->socket,
                                   "--cgroup-parent", CgroupParent(host->netns),
                                   "--exec-opt", "native.cgroupdriver=cgroupfs"};
  if (host->trusts_registry) {
    args.push_back("--insecure-registry");
    args.push_back(subnet_cidr());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string netns_path = "/run/netns/" + host->netns;
  std::string hostname = host->netns;
  // What `nsenter --net=/run/netns/NAME` does (setns on the namespace file, no /sys remount), plus a
  // UTS namespace so each node reports its own hostname. Only system calls between fork and exec.
  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    setsid();  // outlives the process that formed the bed (the CTest fixture)
    int ns = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(120);
    if (unshare(CLONE_NEWUTS) != 0 || sethostname(hostname.c_str(), hostname.size()) != 0) _exit(121);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0) _exit(122);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  host->dockerd_pid = pid;
  Save(nullptr);
  DockerClient docker(host->socket);
  for (int i = 0; i < 600; ++i) {
    if (docker.Ping().ok()) return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      std::ifstream in(log);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      *error = "dockerd of " + host->name + " exited at start (status " + std::to_string(status) +
               "): " + text.substr(text.size() > 2000 ? text.size() - 2000 : 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = "dockerd of " + host->name + " did not answer on " + host->socket + " within 60 s; see " + log;
  return false;
}

bool TestBed::AddHost(bool trusts_registry, TestHost* added, std::string* error) {
  int index = static_cast<int>(hosts_.size()) + 1;
  TestHost host;
  host.name = "h" + std::to_string(index);
  host.netns = "bimc" + id_ + "-" + host.name;
  host.address = subnet_ + "." + std::to_string(10 + index);
  host.dir = base_dir_ + "/" + host.name;
  host.socket = host.dir + "/docker.sock";
  host.trusts_registry = trusts_registry;
  hosts_.push_back(host);
  if (!Save(error)) return false;
  std::string veth = "v" + std::to_string(index);
  if (!Ip({"netns", "add", host.netns}, error) ||
      !Ip({"-n", bridge_netns_, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns},
          error) ||
      !Ip({"-n", bridge_netns_, "link", "set", veth, "master", "br0", "up"}, error) ||
      !Ip({"-n", host.netns, "addr", "add", host.address + "/24", "dev", "eth0"}, error) ||
      !Ip({"-n", host.netns, "link", "set", "eth0", "up"}, error) ||
      !Ip({"-n", host.netns, "link", "set", "lo", "up"}, error)) {
    return false;
  }
  if (!StartHost(&hosts_.back(), error)) return false;

  SwarmClient swarm(hosts_.back().socket);
  if (index == 1) {
    SwarmInitOptions init;
    init.listen_addr = host.address + ":2377";
    init.advertise_addr = host.address;
    init.default_addr_pool = {kOverlayPool};
    init.heartbeat_period = kHeartbeat;
    init.task_history_limit = 2;
    Status s = swarm.Init(init, &hosts_.back().node_id);
    if (!s.ok()) {
      *error = s.message();
      return false;
    }
  } else {
    SwarmClient manager_api(manager().socket);
    SwarmJoinOptions join;
    join.listen_addr = host.address + ":2377";
    join.advertise_addr = host.address;
    join.remote_addrs = {manager().address + ":2377"};
    Status s = manager_api.JoinTokens(&join.join_token, nullptr);
    if (s.ok()) s = swarm.Join(join);
    SwarmState state;
    if (s.ok()) s = swarm.Info(&state);
    if (!s.ok()) {
      *error = host.name + " could not join the swarm: " + s.message();
      return false;
    }
    hosts_.back().node_id = state.node_id;
  }
  // Ready means the manager sees the node ready (it can be given tasks).
  SwarmClient manager_api(manager().socket);
  bool ready = Eventually(
      [&] {
        std::vector<NodeInfo> nodes;
        if (!manager_api.ListNodes(&nodes).ok()) return false;
        for (const auto& n : nodes)
          if (n.id == hosts_.back().node_id) return n.state == "ready";
        return false;
      },
      60);
  if (!ready) {
    *error = "node " + host.name + " did not become ready in the swarm within 60 s";
    return false;
  }
  if (added) *added = hosts_.back();
  return Save(error);
}

bool TestBed::StopHost(const TestHost& host, std::string* error) {
  KillAll(host.netns, CgroupParent(host.netns));
  UnmountBelow(host.dir);
  RemoveCgroups(CgroupParent(host.netns));
  std::error_code ec;
  fs::remove_all(host.dir, ec);
  if (ec && error) *error = "cannot remove " + host.dir + ": " + ec.message();
  std::string ignored;
  if (fs::exists("/run/netns/" + host.netns)) Ip({"netns", "del", host.netns}, &ignored);
  return !ec;
}

bool TestBed::KillHost(const std::string& name, std::string* error) {
  const TestHost& h = host(name);
  if (h.name != name) {
    *error = "no host " + name;
    return false;
  }
  int index = std::atoi(name.c_str() + 1);
  if (!Ip({"-n", bridge_netns_, "link", "set", "v" + std::to_string(index), "down"}, error)) return false;
  KillAll(h.netns, CgroupParent(h.netns));
  return true;
}

bool TestBed::ReviveHost(const std::string& name, std::string* error) {
  auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const TestHost& h) { return h.name == name; });
  if (it == hosts_.end()) {
    *error = "no host " + name;
    return false;
  }
  if (!Ip({"-n", bridge_netns_, "link", "set", "v" + name.substr(1), "up"}, error)) return false;
  KillAll(it->netns, CgroupParent(it->netns));  // whatever survived the kill (nothing should)
  if (!StartHost(&*it, error)) return false;
  SwarmClient manager_api(manager().socket);
  std::string node_id = it->node_id;
  if (!Eventually(
          [&] {
            std::vector<NodeInfo> nodes;
            if (!manager_api.ListNodes(&nodes).ok()) return false;
            for (const auto& n : nodes)
              if (n.id == node_id) return n.state == "ready";
            return false;
          },
          60)) {
    *error = "node " + name + " did not come back ready within 60 s";
    return false;
  }
  return Save(error);
}

bool TestBed::RemoveHost(const std::string& name, std::string* error) {
  auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const TestHost& h) { return h.name == name; });
  if (it == hosts_.end()) {
    *error = "no host " + name;
    return false;
  }
  TestHost gone = *it;
  bool ok = StopHost(gone, error);
  hosts_.erase(it);
  SwarmClient(manager().socket).RemoveNode(gone.node_id, true);
  return Save(error) && ok;
}

bool TestBed::Down(std::string* error) {
  bool ok = true;
  // Workers first, the manager last; every host even if one fails.
  for (auto it = hosts_.rbegin(); it != hosts_.rend(); ++it) {
    std::string e;
    if (!StopHost(*it, &e)) {
      ok = false;
      if (error) *error += e + "; ";
    }
  }
  std::string ignored;
  if (!bridge_netns_.empty() && fs::exists("/run/netns/" + bridge_netns_)) Ip({"netns", "del", bridge_netns_}, &ignored);
  std::error_code ec;
  UnmountBelow(base_dir_);
  fs::remove_all(base_dir_, ec);
  if (ec) {
    ok = false;
    if (error) *error += "cannot remove " + base_dir_ + ": " + ec.message();
  }
  if (ok && !state_file_.empty()) fs::remove(state_file_, ec);
  return ok;
}

bool TestBed::EnterHostNetwork(const std::string& name, std::string* error) const {
  std::string path = "/run/netns/" + host(name).netns;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  int rc = setns(fd, CLONE_NEWNET);
  int saved = errno;
  close(fd);
  if (rc != 0) {
    *error = "setns " + path + ": " + std::strerror(saved);
    return false;
  }
  return true;
}

}  // namespace bim::testing
