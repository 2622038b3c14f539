// NetworkFirewall's iptables commands, through a fake CommandRunner (the real rules are exercised by
// the tenants suite against the real kernel).
#include "docker/network_firewall.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bim {
namespace {

class FakeIptables : public CommandRunner {
 public:
  Status Run(const std::vector<std::string>& argv, std::string* output) override {
    std::string line;
    for (size_t i = 2; i < argv.size(); ++i) line += (i > 2 ? " " : "") + argv[i];
    calls.push_back(line);
    EXPECT_EQ(argv[0], "iptables");
    EXPECT_EQ(argv[1], "-w");
    if (missing_docker_user && line == "-S DOCKER-USER") {
      *output = "iptables: No chain/target/match by that name.";
      return Status::FailedPrecondition("iptables exited with status 1");
    }
    if (line.starts_with("-D")) return Status::FailedPrecondition("no such rule");  // nothing to delete
    if (!fail_on.empty() && line.starts_with(fail_on)) return Status::FailedPrecondition("failed");
    return Status::OK();
  }
  Status RunAttached(const std::vector<std::string>&, bool) override { return Status::OK(); }
  bool Has(const std::string& line) const { return std::find(calls.begin(), calls.end(), line) != calls.end(); }

  std::vector<std::string> calls;
  bool missing_docker_user = false;
  std::string fail_on;
};

TEST(NetworkFirewallTest, InstallsInstanceChainsForThisInstancesBridgesOnly) {
  FakeIptables fake;
  NetworkFirewall fw({"iptables", "0123456789ab", {"169.254.0.0/16", "10.99.0.0/16"}}, &fake);
  ASSERT_TRUE(fw.Install().ok());
  EXPECT_EQ(fw.BridgePattern(), "bim0123+");
  std::string bridge = fw.NewBridgeName();
  EXPECT_EQ(bridge.size(), 15u);
  EXPECT_TRUE(bridge.starts_with("bim0123"));
  EXPECT_NE(bridge, fw.NewBridgeName());
  const std::string fwd = "BIM-0123456789ab-FWD", in = "BIM-0123456789ab-IN";
  EXPECT_TRUE(fake.Has("-A " + fwd + " -d 169.254.0.0/16 -j DROP"));
  EXPECT_TRUE(fake.Has("-A " + fwd + " -d 10.99.0.0/16 -j DROP"));
  EXPECT_TRUE(fake.Has("-A " + fwd + " -j RETURN"));
  EXPECT_TRUE(fake.Has("-A " + in + " -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"));
  EXPECT_TRUE(fake.Has("-A " + in + " -j DROP"));
  EXPECT_TRUE(fake.Has("-I DOCKER-USER 1 -i bim0123+ -j " + fwd));
  EXPECT_TRUE(fake.Has("-I INPUT 1 -i bim0123+ -j " + in));
  // Every jump is limited to this instance's bridges: no rule touches other traffic.
  for (const std::string& c : fake.calls) {
    if (c.starts_with("-I ")) {
      EXPECT_NE(c.find("-i bim0123+"), std::string::npos) << c;
    }
  }
  // Chains are flushed before they are filled, so a second Install does not duplicate rules.
  auto flush = std::find(fake.calls.begin(), fake.calls.end(), "-F " + fwd);
  auto first_rule = std::find(fake.calls.begin(), fake.calls.end(), "-A " + fwd + " -d 169.254.0.0/16 -j DROP");
  EXPECT_LT(flush, first_rule);
}

TEST(NetworkFirewallTest, RemoveDeletesJumpsAndChains) {
  FakeIptables fake;
  NetworkFirewall fw({"iptables", "0123456789ab", {"169.254.0.0/16"}}, &fake);
  ASSERT_TRUE(fw.Remove().ok());
  EXPECT_TRUE(fake.Has("-D DOCKER-USER -i bim0123+ -j BIM-0123456789ab-FWD"));
  EXPECT_TRUE(fake.Has("-D INPUT -i bim0123+ -j BIM-0123456789ab-IN"));
  EXPECT_TRUE(fake.Has("-X BIM-0123456789ab-FWD"));
  EXPECT_TRUE(fake.Has("-X BIM-0123456789ab-IN"));
}

TEST(NetworkFirewallTest, RefusesWithoutDockersChainAndUndoesAFailedInstall) {
  FakeIptables fake;
  fake.missing_docker_user = true;
  NetworkFirewall fw({"iptables", "0123456789ab", {"169.254.0.0/16"}}, &fake);
  Status s = fw.Install();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("DOCKER-USER"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--iptables=false"), std::string::npos) << s.message();

  FakeIptables half;
  half.fail_on = "-I INPUT";
  NetworkFirewall fw2({"iptables", "0123456789ab", {"169.254.0.0/16"}}, &half);
  EXPECT_FALSE(fw2.Install().ok());
  EXPECT_TRUE(half.Has("-X BIM-0123456789ab-FWD")) << "a failed install removes what it added";
}

}  // namespace
}  // namespace bim
