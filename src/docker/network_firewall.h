// NetworkFirewall: the iptables rules that make each app's Docker network a tenant boundary.
//
// Every app gets its own bridge network (DockerClient::CreateNetwork), and its builds and containers
// run on it. Docker itself already drops traffic between two bridge networks (its
// DOCKER-ISOLATION-STAGE chains), so apps cannot reach each other's containers. What Docker allows
// and a tenant must not have, these rules take away, for packets arriving from this bimd's app
// bridges only (their names share a prefix per bimd instance, see NewBridgeName):
//   - FORWARD, through Docker's DOCKER-USER chain: to `blocked_egress` (by default 169.254.0.0/16,
//     link-local and the cloud metadata service at 169.254.169.254);
//   - INPUT: everything but replies. A container cannot open a connection to the host itself: not
//     to its services on the bridge's gateway address or any other host address, not to the host's
//     published container ports, not to bimd's API.
// Containers of one app still talk to each other (same bridge), and the host (nginx, bimd's health
// probe, docker-proxy) still reaches every container: that traffic leaves through OUTPUT.
//
// The rules live in two chains of this instance, BIM-<instance>-FWD and BIM-<instance>-IN, each with
// one jump from DOCKER-USER / INPUT that matches this instance's bridges, so they touch no other
// traffic of the machine and other bimd instances (other test runs) keep their own.
//
// iptables is run through the CommandRunner seam ("iptables -w ..."; Debian 12's iptables-nft).
// Thread-safety: Install and Remove may run concurrently with anything but each other.
#pragma once

#include <string>
#include <vector>

#include "base/command_runner.h"
#include "core/status.h"

namespace bim {

struct FirewallOptions {
  std::string iptables = "iptables";
  std::string instance_id;                                   // bimd's instance id (hex)
  std::vector<std::string> blocked_egress = {"169.254.0.0/16"};  // CIDRs app containers may not reach
};

class NetworkFirewall {
 public:
  // `runner` must outlive this object.
  NetworkFirewall(FirewallOptions options, CommandRunner* runner);

  // A Linux bridge name for a new app network: "bim" + the instance id's first 4 hex digits + 8
  // random ones (15 characters, the kernel's limit). Random rather than derived from the app name,
  // so names never collide by hashing; a taken name fails the network's creation, and the caller
  // asks again. Every bridge of this instance matches BridgePattern().
  std::string NewBridgeName() const;
  std::string BridgePattern() const;  // "bim<4 hex>+" in iptables' wildcard syntax

  // Creates (or rewrites) this instance's chains and their jumps. Idempotent: run at every start.
  // FailedPrecondition naming the fix when iptables is missing or dockerd runs without its iptables
  // rules (no DOCKER-USER chain); on failure whatever was added is removed again.
  Status Install();

  // Removes this instance's jumps and chains. OK if they are not there.
  Status Remove();

  const std::string& forward_chain() const { return forward_chain_; }
  const std::string& input_chain() const { return input_chain_; }

 private:
  Status Run(std::vector<std::string> args, std::string* output = nullptr);
  // Deletes every jump matching `rule` from `chain` (there may be duplicates after a crash).
  void DeleteAll(const std::string& chain, const std::vector<std::string>& rule);

  FirewallOptions options_;
  CommandRunner* runner_;
  std::string forward_chain_;
  std::string input_chain_;
};

}  // namespace bim
