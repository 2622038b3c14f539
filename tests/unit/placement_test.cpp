#include <gtest/gtest.h>

#include "core/app_config.h"
#include "core/placement.h"

namespace bim {
namespace {

TEST(PlacementTest, AcceptsSwarmsAttributesAndNormalizesSpaces) {
  std::string out;
  ASSERT_TRUE(ValidatePlacementConstraint("node.labels.zone == eu", &out).ok());
  EXPECT_EQ(out, "node.labels.zone==eu");
  ASSERT_TRUE(ValidatePlacementConstraint("node.role!=manager", &out).ok());
  EXPECT_EQ(out, "node.role!=manager");
  for (const char* ok : {"node.id==abc123", "node.hostname==web-1.example", "node.platform.os==linux",
                         "node.platform.arch!=arm64", "engine.labels.com.example/tier==a", "node.labels.a:b==c_d"}) {
    EXPECT_TRUE(ValidatePlacementConstraint(ok, &out).ok()) << ok;
  }
}

TEST(PlacementTest, RefusesWhatSwarmWouldRejectOrMisreadWithOneLineNamingTheFix) {
  std::string out;
  struct Case {
    const char* constraint;
    const char* says;
  } cases[] = {
      {"node.labels.zone=eu", "exactly one == or !="},
      {"node.labels.zone==eu==x", "exactly one == or !="},
      {"node.labels.zone==eu!=x", "exactly one == or !="},
      {"zone==eu", "unknown attribute"},
      {"node.labels.==eu", "label name"},
      {"node.labels.zone==", "value must be"},
      {"node.labels.zone==e u", "value must be"},
      {"node.labels.zone==eu\n", "value must be"},
      {"node.labels.zone==\"eu\"", "value must be"},
      {"node.role==boss", "manager or worker"},
  };
  for (const auto& c : cases) {
    Status s = ValidatePlacementConstraint(c.constraint, &out);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.constraint;
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
  std::vector<std::string> many(kMaxPlacementConstraints + 1, "node.role==worker");
  EXPECT_FALSE(ValidatePlacement(&many).ok());
  EXPECT_FALSE(ValidateReplicas(0).ok());
  EXPECT_FALSE(ValidateReplicas(kMaxReplicas + 1).ok());
  EXPECT_TRUE(ValidateReplicas(kMaxReplicas).ok());
}

TEST(PlacementTest, BimTomlDeploySectionSetsReplicasAndPlacement) {
  AppConfig config;
  ASSERT_TRUE(ParseAppConfig("app = \"x\"\n[deploy]\nreplicas = 3\nplacement = [\"node.labels.zone == eu\", "
                             "\"node.role!=manager\"]\n",
                             &config)
                  .ok());
  EXPECT_EQ(config.deploy.replicas, 3);
  EXPECT_EQ(config.deploy.placement, (std::vector<std::string>{"node.labels.zone==eu", "node.role!=manager"}));

  AppConfig defaults;
  ASSERT_TRUE(ParseAppConfig("app = \"x\"\n", &defaults).ok());
  EXPECT_EQ(defaults.deploy.replicas, 0) << "not set: the app keeps its count";
  EXPECT_TRUE(defaults.deploy.placement.empty());

  AppConfig bad;
  EXPECT_NE(ParseAppConfig("[deploy]\nreplicas = 0\n", &bad).message().find("deploy.replicas must be between 1 and 100"),
            std::string::npos);
  EXPECT_NE(ParseAppConfig("[deploy]\nreplicas = \"3\"\n", &bad).message().find("must be an integer"), std::string::npos);
  EXPECT_NE(ParseAppConfig("[deploy]\nreplicas = 99999999999\n", &bad).message().find("between 1 and 100"),
            std::string::npos);
  EXPECT_NE(ParseAppConfig("[deploy]\nplacement = \"node.role==worker\"\n", &bad).message().find("list of strings"),
            std::string::npos);
  EXPECT_NE(ParseAppConfig("[deploy]\nplacement = [3]\n", &bad).message().find("must be strings"), std::string::npos);
  EXPECT_NE(ParseAppConfig("[deploy]\nplacement = [\"zone==eu\"]\n", &bad).message().find("unknown attribute"),
            std::string::npos);
  EXPECT_NE(ParseAppConfig("[deploy]\nreplica = 3\n", &bad).message().find("unknown key \"deploy.replica\""),
            std::string::npos);
  EXPECT_EQ(bad.deploy.replicas, 0) << "a refused bim.toml leaves the config unchanged";
}

}  // namespace
}  // namespace bim
