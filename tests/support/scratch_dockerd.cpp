#include "support/scratch_dockerd.h"

#include "support/bimd_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "docker/docker_client.h"

extern char** environ;

namespace bim::testing {

namespace fs = std::filesystem;

namespace {

// Runs argv (no shell) with output discarded; its exit status, or -1.
int RunQuiet(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ScratchDockerd::ScratchDockerd() {
  // Short paths: containerd's sockets live under the exec root and unix socket paths are limited.
  char tmpl[] = "/tmp/bimdk-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return;
  dir_ = tmpl;
  socket_ = dir_ + "/docker.sock";
  std::string netns = "bim-up-" + dir_.substr(dir_.rfind('-') + 1);
  if (RunQuiet({"/usr/sbin/ip", "netns", "add", netns}) != 0) return;
  netns_ = netns;
  RunQuiet({"/usr/sbin/ip", "-n", netns_, "link", "set", "lo", "up"});
  std::vector<std::string> argv = {"/usr/bin/nsenter", "--net=/run/netns/" + netns_, "/usr/sbin/dockerd",
                                   "--data-root", dir_ + "/root",
                                   "--exec-root", dir_ + "/x",
                                   "--pidfile", dir_ + "/dockerd.pid",
                                   "-H", "unix://" + socket_,
                                   "--bridge=none", "--iptables=false", "--ip-masq=false"};
  int pid = SpawnLogged(argv, {}, dir_ + "/dockerd.log");
  if (pid <= 0) return;
  pid_ = pid;
  DockerClient docker(socket_);
  for (int i = 0; i < 600 && !ready_; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return;
    }
    ready_ = docker.Ping().ok();
    if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string ScratchDockerd::Log() const {
  std::ifstream in(dir_ + "/dockerd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ScratchDockerd::~ScratchDockerd() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    bool exited = false;
    for (int i = 0; i < 300 && !exited; ++i) {
      exited = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  if (!netns_.empty()) RunQuiet({"/usr/sbin/ip", "netns", "delete", netns_});
  if (dir_.empty()) return;
  // A dockerd killed hard may leave overlay or shm mounts under its roots: unmount them, deepest first.
  std::ifstream mounts("/proc/mounts");
  std::vector<std::string> mine;
  std::string device, point, rest;
  while (mounts >> device >> point && std::getline(mounts, rest))
    if (point.starts_with(dir_ + "/")) mine.push_back(point);
  for (auto it = mine.rbegin(); it != mine.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace bim::testing
