// Network test helpers of the tenants suite: the targets a tenant's app must not reach, each of which
// the host itself can reach (the positive control), and a container of the tenant's own network.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/deploy_plan.h"
#include "docker/docker_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {

// Runs `ip ARGS`; fails the test on error.
inline void Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/sbin/ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunProcess(argv, {}, 30);
  ASSERT_EQ(r.exit_code, 0) << "ip failed: " << r.err;
}

// A TCP listener in this process on `ip` (the kernel completes handshakes from its backlog).
class HostListener {
 public:
  explicit HostListener(const std::string& ip) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 && listen(fd_, 64) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
  }
  ~HostListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A test host in its own network namespace with a link-local address (like a cloud metadata service
// at 169.254.169.254), routed from the host over a veth pair, serving the probe. Removed on
// destruction. The address is random in 169.254.0.0/16, so two runs do not collide.
class LinkLocalHost {
 public:
  LinkLocalHost() {
    std::string suffix = UniqueSuffix();
    ns_ = "bimt-" + suffix;
    std::string host_if = "bt" + suffix + "h", ns_if = "bt" + suffix + "n";
    std::mt19937 rng(std::random_device{}());
    std::string net = "169.254." + std::to_string(10 + rng() % 240) + ".";
    host_ip_ = net + "1";
    ip_ = net + "2";
    port_ = 20000 + static_cast<int>(rng() % 10000);
    Ip({"netns", "add", ns_});
    Ip({"link", "add", host_if, "type", "veth", "peer", "name", ns_if});
    Ip({"link", "set", ns_if, "netns", ns_});
    Ip({"addr", "add", host_ip_ + "/32", "dev", host_if});
    Ip({"link", "set", host_if, "up"});
    Ip({"route", "add", ip_ + "/32", "dev", host_if});
    Ip({"-n", ns_, "link", "set", "lo", "up"});
    Ip({"-n", ns_, "addr", "add", ip_ + "/32", "dev", ns_if});
    Ip({"-n", ns_, "link", "set", ns_if, "up"});
    Ip({"-n", ns_, "route", "add", host_ip_ + "/32", "dev", ns_if});
    Ip({"-n", ns_, "route", "add", "default", "via", host_ip_, "dev", ns_if});
    std::string probe = BuildPath("examples/tenant-probe");
    std::vector<std::string> args = {"/usr/sbin/ip", "netns", "exec", ns_, probe};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = {"PORT=" + std::to_string(port_), "BIND=" + ip_};
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0) pid_ = 0;
  }
  ~LinkLocalHost() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    RunProcess({"/usr/sbin/ip", "netns", "del", ns_}, {}, 30);  // takes the veth pair and its route along
  }
  std::string target() const { return ip_ + ":" + std::to_string(port_); }

 private:
  std::string ns_, host_ip_, ip_;
  int port_ = 0;
  pid_t pid_ = 0;
};

// A second container on a's own network, like another process of the same app.
class Sibling {
 public:
  Sibling(const std::string& instance, const std::string& image, const std::string& network) {
    ContainerSpec spec;
    spec.name = "bimt-sibling-" + UniqueSuffix();
    spec.image = image;
    spec.labels = {{labels::kInstance, instance}};
    spec.container_port = 0;
    spec.restart_policy = "no";
    spec.networks = {NetworkAttachment{network, {}}};
    if (docker_.CreateContainer(spec, &id_).ok() && docker_.StartContainer(id_).ok()) {
      ContainerInfo info;
      if (docker_.InspectContainer(id_, &info).ok() && info.networks.count(network)) ip_ = info.networks[network];
    }
  }
  ~Sibling() {
    if (!id_.empty()) docker_.RemoveContainer(id_, true);
  }
  const std::string& ip() const { return ip_; }

 private:
  DockerClient docker_;
  std::string id_, ip_;
};

// What the host itself reaches (the positive control), in the probe's words.
inline std::string HostReach(const std::string& target) {
  size_t colon = target.rfind(':');
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr.sin_addr);
  bool open = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return open ? "open" : "closed";
}

}  // namespace bim::testing
