// SwarmEngine without a swarm: what it refuses before it talks to Swarm (volume copies), and where it
// keeps a workload's named volumes (ChooseVolumeNode). No dockerd is needed: the socket does not
// exist, so a call that reached Swarm would fail with Unavailable instead of what is asserted here.
#include <gtest/gtest.h>

#include "swarm/swarm_engine.h"

namespace bim {
namespace {

class SwarmEngineVolumes : public ::testing::Test {
 protected:
  SwarmEngineOptions Options() {
    SwarmEngineOptions o;
    o.docker_socket = "/nonexistent/bim-swarm-engine-test.sock";
    return o;
  }
  DockerClient docker_{"/nonexistent/bim-swarm-engine-test.sock"};
  SwarmEngine engine_{Options(), &docker_, nullptr};
};

TEST_F(SwarmEngineVolumes, VolumesAreKeptButCopiesAreRefusedWithTheFix) {
  VolumeSpec vol{"bim-x-shop.data", {}};
  EXPECT_TRUE(engine_.EnsureVolume(vol).ok()) << "made on its node by the first task that mounts it";
  Status s = engine_.CheckVolumeCopies();
  ASSERT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("volume backup and restore are not supported on the Swarm engine"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("copy it on that node"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);  // one line
  EXPECT_EQ(engine_.Freeze("bim-shop-v1-db", true).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_.ExportVolume(vol, "img", [](std::string_view) { return true; }).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_.ImportVolume(vol, "img", "/nonexistent.tar").code(), Code::kFailedPrecondition);
}

NodeInfo Node(const std::string& id, const std::string& state = "ready", Labels labels = {}) {
  NodeInfo n;
  n.id = id;
  n.hostname = "h-" + id;
  n.role = id == "a" ? "manager" : "worker";
  n.state = state;
  n.availability = "active";
  n.labels = std::move(labels);
  return n;
}

std::string Pin(const std::string& volume) { return std::string(kVolumePinPrefix) + volume; }

TEST(ChooseVolumeNodeTest, ANewVolumeGoesToTheUsableNodeMeetingThePlacementWithTheFewestVolumes) {
  std::vector<NodeInfo> nodes = {Node("a", "ready", {{Pin("other.v1"), "{}"}}), Node("b", "ready", {{"zone", "east"}}),
                                 Node("c", "down"), Node("d", "ready", {{"zone", "west"}})};
  std::string node;
  std::vector<std::string> unpinned;
  ASSERT_TRUE(ChooseVolumeNode(nodes, {"shop.data"}, {}, &node, &unpinned).ok());
  EXPECT_EQ(node, "b") << "a holds a volume already, c is down, b sorts before d";
  EXPECT_EQ(unpinned, std::vector<std::string>{"shop.data"});
  ASSERT_TRUE(ChooseVolumeNode(nodes, {"shop.data"}, {"node.labels.zone != east", "node.role==worker"}, &node, &unpinned).ok());
  EXPECT_EQ(node, "d");
  ASSERT_TRUE(ChooseVolumeNode(nodes, {"shop.data"}, {"node.hostname==H-A"}, &node, &unpinned).ok());
  EXPECT_EQ(node, "a") << "values compare as Swarm compares them, case aside";
  Status s = ChooseVolumeNode(nodes, {"shop.data"}, {"node.hostname==h-c"}, &node, &unpinned);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("no ready, active node meets the placement to keep volume shop.data on"), std::string::npos)
      << s.message();
}

TEST(ChooseVolumeNodeTest, APinnedVolumeStaysOnItsNodeEvenWhileItIsDown) {
  std::vector<NodeInfo> nodes = {Node("a"), Node("b"), Node("c", "down", {{Pin("shop.data"), "{}"}})};
  std::string node;
  std::vector<std::string> unpinned;
  ASSERT_TRUE(ChooseVolumeNode(nodes, {"shop.data"}, {"node.hostname==h-a"}, &node, &unpinned).ok());
  EXPECT_EQ(node, "c");
  EXPECT_TRUE(unpinned.empty());
  // A second volume of the same service joins the first on its node.
  ASSERT_TRUE(ChooseVolumeNode(nodes, {"shop.data", "shop.logs"}, {}, &node, &unpinned).ok());
  EXPECT_EQ(node, "c");
  EXPECT_EQ(unpinned, std::vector<std::string>{"shop.logs"});
  // Two volumes kept on two nodes cannot be mounted by one service.
  nodes[0].labels[Pin("shop.logs")] = "{}";
  Status s = ChooseVolumeNode(nodes, {"shop.data", "shop.logs"}, {}, &node, &unpinned);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("volumes shop.data and shop.logs are kept on different nodes"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace bim
