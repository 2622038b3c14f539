// What SwarmEngine refuses before it talks to Swarm: named volumes (and the volume copies and freezes
// built on them) and engine healthchecks. No dockerd is needed: the socket does not exist, so a call
// that reached Swarm would fail with Unavailable instead of the refusal asserted here.
#include <gtest/gtest.h>

#include "swarm/swarm_engine.h"

namespace bim {
namespace {

class SwarmEngineRefusals : public ::testing::Test {
 protected:
  SwarmEngineOptions Options() {
    SwarmEngineOptions o;
    o.docker_socket = "/nonexistent/bim-swarm-engine-test.sock";
    return o;
  }
  DockerClient docker_{"/nonexistent/bim-swarm-engine-test.sock"};
  SwarmEngine engine_{Options(), &docker_, nullptr};
};

TEST_F(SwarmEngineRefusals, AnAppOfSeveralServicesIsRefusedWithTheFix) {
  Status s = engine_.CheckSeveralServices();
  ASSERT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("a Compose app of several services is not supported on the Swarm engine"),
            std::string::npos) << s.message();
  EXPECT_NE(s.message().find("keep one service in the Compose file, or run this app on a single-host bimd"),
            std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);  // one line
}

TEST_F(SwarmEngineRefusals, NamedVolumesAreRefusedWithTheFix) {
  Status s = engine_.CheckVolumes();
  ASSERT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("named volumes are not supported on the Swarm engine"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("remove volumes: from the Compose file"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);  // one line
  VolumeSpec vol{"bim-x-shop.data", {}};
  EXPECT_EQ(engine_.EnsureVolume(vol).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_.Freeze("bim-shop-v1-db", true).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_.ExportVolume(vol, "img", [](std::string_view) { return true; }).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_.ImportVolume(vol, "img", "/nonexistent.tar").code(), Code::kFailedPrecondition);
  // Nothing was ever made, so there is nothing to list or remove (destroy works on Swarm).
  std::vector<VolumeInfo> listed{VolumeInfo{}};
  EXPECT_TRUE(engine_.ListVolumes({}, true, &listed).ok());
  EXPECT_TRUE(listed.empty());
  EXPECT_TRUE(engine_.RemoveVolume("bim-x-shop.data").ok());
}

TEST_F(SwarmEngineRefusals, AHealthcheckIsRefusedNotDropped) {
  WorkloadSpec spec;
  spec.name = "bim-shop-v1-worker";
  spec.image = "registry/shop:v1";
  spec.healthcheck.test = {"CMD", "/probe"};
  Workload w;
  Status s = engine_.Start(spec, &w);
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.message();
  EXPECT_NE(s.message().find("healthcheck is not supported on the Swarm engine"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace bim
