// The deploy request's meta as bimd reads it (server/api_requests.h): the source fields a deploy
// records (git commit, dirty flag, content digest), the one health-timeout rule and the env entries.
#include <gtest/gtest.h>

#include "server/api_requests.h"

namespace bim {
namespace {

using nlohmann::json;

Status Parse(const json& meta, DeployRequest* out) { return ParseDeployMeta(meta.dump(), "hello", out); }

TEST(DeployMetaTest, SourceFields) {
  DeployRequest r;
  const std::string digest = "sha256:" + std::string(64, 'a');
  ASSERT_TRUE(Parse({{"app", "hello"}, {"git_commit", std::string(40, 'f')}, {"git_dirty", true},
                     {"source_digest", digest}},
                    &r)
                  .ok());
  EXPECT_EQ(r.git_commit, std::string(40, 'f'));
  EXPECT_TRUE(r.git_dirty);
  EXPECT_EQ(r.source_digest, digest);

  DeployRequest plain;  // older CLIs send neither field
  ASSERT_TRUE(Parse({{"app", "hello"}}, &plain).ok());
  EXPECT_FALSE(plain.git_dirty);
  EXPECT_EQ(plain.source_digest, "");

  for (const json& bad : {json{{"git_dirty", "yes"}}, json{{"source_digest", "md5:abc"}},
                          json{{"source_digest", "sha256:" + std::string(64, 'G')}},
                          json{{"source_digest", "sha256:" + std::string(63, 'a')}}, json{{"source_digest", 7}}}) {
    DeployRequest r2;
    Status s = Parse(bad, &r2);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad.dump();
  }
}

TEST(DeployMetaTest, HealthTimeoutBoundsAreCoresOnes) {
  DeployRequest r;
  EXPECT_TRUE(Parse({{"health", {{"timeout_ms", 1000}}}}, &r).ok());
  EXPECT_TRUE(Parse({{"health", {{"timeout_ms", 3600 * 1000}}}}, &r).ok());
  Status low = Parse({{"health", {{"timeout_ms", 999}}}}, &r);
  EXPECT_EQ(low.message(), "health timeout must be between 1s and 1h (got 999ms)");
  EXPECT_EQ(low.message(), ValidateHealthTimeout(std::chrono::milliseconds(999)).message());
  EXPECT_FALSE(Parse({{"health", {{"timeout_ms", 3600 * 1000 + 1}}}}, &r).ok());
}

TEST(DeployMetaTest, EnvEntriesHaveOneRule) {
  EnvList env;
  ASSERT_TRUE(ParseEnvEntries(json::parse(R"([{"key":"A","value":"1"},{"key":"A","value":"2"}])"), "set", &env).ok());
  EXPECT_EQ(env, (EnvList{{"A", "2"}}));
  EXPECT_EQ(ParseEnvEntries(json::object(), "set", &env).message(), "\"set\" must be a list of {key, value}");
  EXPECT_EQ(ParseEnvEntries(json::parse(R"([{"key":"1A","value":"x"}])"), "env", &env).code(), Code::kInvalidArgument);
  Status nul = ParseEnvEntries(json::array({{{"key", "B"}, {"value", std::string("a\0b", 3)}}}), "env", &env);
  EXPECT_EQ(nul.message(), "env value of B contains a NUL byte");
}

}  // namespace
}  // namespace bim
