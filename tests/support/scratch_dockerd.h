// Test helper: a throwaway dockerd of the test's own, standing in for a developer's machine (the
// "local" Docker of `bim deploy --build local`), so that bimd's dockerd truly lacks what it builds.
//
// It runs in a network namespace of its own (`ip netns add bim-up-<random>`, entered with nsenter:
// a dockerd in the machine's own namespace would touch the host's docker0, and `--bridge=none` even
// deletes it), with no bridge and no iptables rules (builds of FROM-scratch images need neither), its
// own data root, exec root, pid file and unix socket (unix sockets cross network namespaces) under a
// unique temp dir, and its own containerd there. The destructor stops it (SIGTERM, then SIGKILL),
// unmounts what it left mounted, deletes its namespace by exact name and removes the directory, pass or
// fail. Not thread-safe.
#pragma once

#include <string>

namespace bim::testing {

class ScratchDockerd {
 public:
  // Starts dockerd and waits (up to 60 s) until it answers /_ping; ok() says whether it did.
  ScratchDockerd();
  ~ScratchDockerd();
  ScratchDockerd(const ScratchDockerd&) = delete;
  ScratchDockerd& operator=(const ScratchDockerd&) = delete;

  bool ok() const { return ready_; }
  const std::string& socket() const { return socket_; }        // the unix socket path
  std::string DockerHost() const { return "unix://" + socket_; }  // for DOCKER_HOST
  std::string Log() const;                                      // dockerd's output so far

 private:
  std::string dir_;
  std::string netns_;  // "" until created
  std::string socket_;
  int pid_ = 0;
  bool ready_ = false;
};

}  // namespace bim::testing
