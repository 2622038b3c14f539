#include "docker/network_firewall.h"

#include <sodium.h>

namespace bim {

namespace {
constexpr const char* kDockerUser = "DOCKER-USER";  // Docker's chain for user rules, first in FORWARD
constexpr const char* kInput = "INPUT";
}  // namespace

NetworkFirewall::NetworkFirewall(FirewallOptions options, CommandRunner* runner)
    : options_(std::move(options)), runner_(runner) {
  forward_chain_ = "BIM-" + options_.instance_id.substr(0, 16) + "-FWD";
  input_chain_ = "BIM-" + options_.instance_id.substr(0, 16) + "-IN";
}

std::string NetworkFirewall::BridgePattern() const { return "bim" + options_.instance_id.substr(0, 4) + "+"; }

std::string NetworkFirewall::NewBridgeName() const {
  unsigned char raw[4];
  randombytes_buf(raw, sizeof raw);
  char hex[9];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return "bim" + options_.instance_id.substr(0, 4) + hex;
}

Status NetworkFirewall::Run(std::vector<std::string> args, std::string* output) {
  args.insert(args.begin(), {options_.iptables, "-w"});
  std::string ignored;
  return runner_->Run(args, output ? output : &ignored);
}

void NetworkFirewall::DeleteAll(const std::string& chain, const std::vector<std::string>& rule) {
  std::vector<std::string> args = {"-D", chain};
  args.insert(args.end(), rule.begin(), rule.end());
  for (int i = 0; i < 100 && Run(args).ok(); ++i) {
  }
}

Status NetworkFirewall::Install() {
  if (options_.instance_id.size() < 4)
    return Status::InvalidArgument("firewall: instance id \"" + options_.instance_id + "\" is too short");
  std::string out;
  if (Status s = Run({"-S", kDockerUser}, &out); !s.ok()) {
    if (s.code() == Code::kUnavailable)
      return Status::FailedPrecondition("cannot run " + options_.iptables +
                                        " (install the iptables package; bimd isolates apps' networks with it): " + s.message());
    return Status::FailedPrecondition("dockerd's " + std::string(kDockerUser) +
                                      " chain is missing (is dockerd running with --iptables=false? bim's tenant "
                                      "isolation needs Docker's iptables rules): " + out.substr(0, 200));
  }
  const std::string pattern = BridgePattern();
  std::vector<std::vector<std::string>> rules;
  for (const std::string& chain : {forward_chain_, input_chain_}) {
    Run({"-N", chain});  // fails if it exists: fine, it is flushed next
    rules.push_back({"-F", chain});
  }
  for (const std::string& cidr : options_.blocked_egress)
    rules.push_back({"-A", forward_chain_, "-d", cidr, "-j", "DROP"});
  rules.push_back({"-A", forward_chain_, "-j", "RETURN"});
  rules.push_back({"-A", input_chain_, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"});
  rules.push_back({"-A", input_chain_, "-j", "DROP"});
  // One jump each, first in its chain, for this instance's bridges only. Old jumps (a crash, an
  // earlier start) are removed first so there is exactly one.
  DeleteAll(kDockerUser, {"-i", pattern, "-j", forward_chain_});
  DeleteAll(kInput, {"-i", pattern, "-j", input_chain_});
  rules.push_back({"-I", kDockerUser, "1", "-i", pattern, "-j", forward_chain_});
  rules.push_back({"-I", kInput, "1", "-i", pattern, "-j", input_chain_});
  for (const auto& rule : rules) {
    if (Status s = Run(rule, &out); !s.ok()) {
      Remove();
      return Status::FailedPrecondition("cannot install bim's network rules (" + options_.iptables + " " + rule[0] + " " +
                                        rule[1] + "): " + out.substr(0, 200));
    }
  }
  return Status::OK();
}

Status NetworkFirewall::Remove() {
  const std::string pattern = BridgePattern();
  DeleteAll(kDockerUser, {"-i", pattern, "-j", forward_chain_});
  DeleteAll(kInput, {"-i", pattern, "-j", input_chain_});
  for (const std::string& chain : {forward_chain_, input_chain_}) {
    Run({"-F", chain});
    Run({"-X", chain});
  }
  return Status::OK();
}

}  // namespace bim
