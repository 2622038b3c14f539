#include "cluster/cluster_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "base/health_probe.h"
#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

TestBed g_bed;

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    TestBedOptions options;
    const char* named = std::getenv("BIM_CLUSTER_BED");
    if (named && *named) {
      ASSERT_TRUE(TestBed::Load(named, &g_bed)) << "BIM_CLUSTER_BED=" << named << " names no test bed";
    } else if (!TestBed::FindByOwner(options.state_dir, getppid(), &g_bed)) {
      std::string error;
      ASSERT_TRUE(TestBed::Up(options, &g_bed, &error)) << "cannot form a private test bed: " << error;
      private_ = true;
    }
    std::string error;
    ASSERT_TRUE(g_bed.EnterHostNetwork("h1", &error)) << error;
  }

  void TearDown() override {
    if (!private_) return;
    std::string error;
    EXPECT_TRUE(g_bed.Down(&error)) << error;
  }

 private:
  bool private_ = false;
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

}  // namespace

TestBed& ClusterBed() { return g_bed; }

std::vector<std::string> ClusterBimdFlags(const std::vector<std::string>& extra) {
  int registry_port = 0;
  PickFreeLoopbackPort(&registry_port);
  std::vector<std::string> flags = {"--docker-socket", g_bed.manager().socket, "--engine", "swarm", "--registry-listen",
                                    g_bed.manager().address + ":" + std::to_string(registry_port)};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return flags;
}

long HttpStatusAt(const std::string& host, int port, const std::string& path) {
  HttpResult r = HttpGetUrl("http://" + host + ":" + std::to_string(port) + path, 3000);
  return r.status;
}

}  // namespace bim::testing
