#include "core/deploy_plan.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

ReleaseInputs Inputs() {
  ReleaseInputs in;
  in.config.app = "hello";
  in.config.port = 3000;
  in.config.health.path = "/healthz";
  in.version = 7;
  in.env = {{"A", "1"}, {"B", "two words"}};
  in.domain = "apps.example.com";
  in.instance_id = "abc123";
  return in;
}

TEST(DeployPlanTest, NamesLabelsEnvAndUrl) {
  ReleasePlan p = PlanRelease(Inputs());
  EXPECT_EQ(p.release_name, "v7");
  EXPECT_TRUE(p.build);
  EXPECT_EQ(p.image_tag, "bim/hello:v7");
  EXPECT_EQ(p.container_name, "bim-hello-v7");
  EXPECT_EQ(p.labels.at(labels::kApp), "hello");
  EXPECT_EQ(p.labels.at(labels::kRelease), "v7");
  EXPECT_EQ(p.labels.at(labels::kInstance), "abc123");
  EXPECT_EQ(p.labels.at(labels::kManaged), "true");
  EXPECT_EQ(p.container_env, (std::vector<std::string>{"A=1", "B=two words"}));
  EXPECT_EQ(p.container_port, 3000);
  EXPECT_EQ(p.health_path, "/healthz");
  EXPECT_EQ(p.server_name, "hello.apps.example.com");
  EXPECT_EQ(p.url, "http://hello.apps.example.com/");
}

TEST(DeployPlanTest, ReusedImageIsNotRebuiltAndPortShowsInUrl) {
  ReleaseInputs in = Inputs();
  in.image_tag = "bim/hello:v3";
  in.public_port = ":8088";
  ReleasePlan p = PlanRelease(in);
  EXPECT_FALSE(p.build);
  EXPECT_EQ(p.image_tag, "bim/hello:v3");
  EXPECT_EQ(p.container_name, "bim-hello-v7");
  EXPECT_EQ(p.url, "http://hello.apps.example.com:8088/");
}

TEST(DeployPlanTest, ReleaseNamesParse) {
  int64_t v = 0;
  EXPECT_TRUE(ParseReleaseName("v12", &v).ok());
  EXPECT_EQ(v, 12);
  EXPECT_TRUE(ParseReleaseName("3", &v).ok());
  EXPECT_EQ(v, 3);
  EXPECT_FALSE(ParseReleaseName("v", &v).ok());
  EXPECT_FALSE(ParseReleaseName("v0", &v).ok());
  EXPECT_FALSE(ParseReleaseName("v1;rm", &v).ok());
  EXPECT_FALSE(ParseReleaseName("", &v).ok());
  EXPECT_EQ(ReleaseName(4), "v4");
}

}  // namespace
}  // namespace bim
