// App networks on the real dockerd: every app gets a bridge network of its own, and a host must hold
// thousands of apps, far more than the ~30 networks Docker's default address pools allow. LocalEngine
// carves each network's subnet from its own pool instead. Every network here carries the label
// im.backend.bim.test=<run id> and is removed pass or fail.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "base/random.h"
#include "core/ipv4_net.h"
#include "docker/local_engine.h"

namespace bim {
namespace {

constexpr const char* kTestLabel = "im.backend.bim.test";

class AppNetworksTest : public ::testing::Test {
 protected:
  void TearDown() override {
    std::vector<NetworkInfo> networks;
    ASSERT_TRUE(docker_.ListNetworks({{kTestLabel, run_}}, &networks).ok());
    for (const auto& n : networks) EXPECT_TRUE(docker_.RemoveNetwork(n.id).ok()) << n.name;
  }

  NetworkSpec Spec(int i) const { return {"bim-test-" + run_ + "-n" + std::to_string(i), {{kTestLabel, run_}}, false}; }

  DockerClient docker_;
  const std::string run_ = RandomHex(6);
};

TEST_F(AppNetworksTest, FortyAppsGetFortyNetworksOnSubnetsOfTheirOwnFromThePool) {
  LocalEngineOptions options;  // the default pool and size, as bimd uses them
  LocalEngine engine(&docker_, options);
  Ipv4Net pool;
  ASSERT_TRUE(ParseIpv4Net(options.app_subnet_pool, &pool).ok());
  // Docker's default pools would give out at about 30 (fewer with other networks on the host).
  const int kApps = 40;
  for (int i = 0; i < kApps; ++i) {
    Status s = engine.EnsureNetwork(Spec(i));
    ASSERT_TRUE(s.ok()) << "network " << i << ": " << s.message();
  }
  ASSERT_TRUE(engine.EnsureNetwork(Spec(0)).ok()) << "an existing network is kept as it is";
  std::vector<NetworkInfo> networks;
  ASSERT_TRUE(docker_.ListNetworks({{kTestLabel, run_}}, &networks).ok());
  ASSERT_EQ(networks.size(), static_cast<size_t>(kApps));
  std::set<std::string> subnets;
  for (const auto& n : networks) {
    Ipv4Net net;
    ASSERT_TRUE(ParseIpv4Net(n.subnet, &net).ok()) << n.name << " has subnet \"" << n.subnet << "\"";
    EXPECT_EQ(net.prefix, options.app_subnet_prefix) << n.subnet;
    EXPECT_EQ(n.gateway, net.Host(1)) << n.name;
    EXPECT_TRUE(net.Overlaps(pool) && net.address >= pool.address && net.last() <= pool.last()) << n.subnet;
    subnets.insert(n.subnet);
  }
  EXPECT_EQ(subnets.size(), static_cast<size_t>(kApps)) << "every network has a subnet of its own";
}

TEST_F(AppNetworksTest, AFullPoolFailsTheNetworkWithTheFlagToRaise) {
  LocalEngineOptions options;
  // A /26 pool holds one /26. Another test run may hold it already: then the first creation fails too,
  // with the same message, which is what this asserts for the second.
  options.app_subnet_pool = "10.207.255.192/26";
  LocalEngine engine(&docker_, options);
  Status first = engine.EnsureNetwork(Spec(0));
  Status second = first.ok() ? engine.EnsureNetwork(Spec(1)) : first;
  EXPECT_EQ(second.code(), Code::kTooLarge) << second.message();
  EXPECT_NE(second.message().find("--app-subnets"), std::string::npos) << second.message();
  std::vector<NetworkInfo> networks;
  ASSERT_TRUE(docker_.ListNetworks({{kTestLabel, run_}}, &networks).ok());
  EXPECT_LE(networks.size(), 1u) << "a refused network leaves nothing behind";
}

}  // namespace
}  // namespace bim
