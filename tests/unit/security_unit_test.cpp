// Pure and SQLite-level pieces of issue 4: token storage, token names, the listen policy and the
// health-path rule against dot segments.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/app_config.h"
#include "core/listen_policy.h"
#include "core/validate.h"
#include "server/context_check.h"
#include "store/store.h"

namespace bim {
namespace {

namespace fs = std::filesystem;

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-token-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Status s = Store::Open(dir_ + "/bim.db", std::string(32, 'k'), &store_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(TokenStoreTest, CreateFindListRevoke) {
  ApiToken a{0, "ci", std::string(64, 'a'), "hello"};
  ApiToken b{0, "ops", std::string(64, 'b'), ""};
  ASSERT_TRUE(store_->CreateToken(&a).ok());
  ASSERT_TRUE(store_->CreateToken(&b).ok());
  EXPECT_GT(a.id, 0);
  EXPECT_GT(b.id, a.id);
  EXPECT_GT(a.created_at_ms, 0);

  ApiToken found;
  ASSERT_TRUE(store_->FindTokenByHash(std::string(64, 'a'), &found).ok());
  EXPECT_EQ(found.id, a.id);
  EXPECT_EQ(found.name, "ci");
  EXPECT_EQ(found.app_scope, "hello");
  EXPECT_EQ(found.revoked_at_ms, 0);
  EXPECT_TRUE(store_->FindTokenByHash(std::string(64, 'c'), &found).IsNotFound());

  std::vector<ApiToken> all;
  ASSERT_TRUE(store_->ListTokens(&all).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "ci");
  EXPECT_EQ(all[1].name, "ops");

  ApiToken revoked;
  ASSERT_TRUE(store_->RevokeToken(a.id, &revoked).ok());
  EXPECT_GT(revoked.revoked_at_ms, 0);
  ASSERT_TRUE(store_->FindTokenByHash(std::string(64, 'a'), &found).ok());
  EXPECT_EQ(found.revoked_at_ms, revoked.revoked_at_ms);
  // Revoking again keeps the first revocation time.
  ApiToken again;
  ASSERT_TRUE(store_->RevokeToken(a.id, &again).ok());
  EXPECT_EQ(again.revoked_at_ms, revoked.revoked_at_ms);

  Status s = store_->RevokeToken(9999, &again);
  EXPECT_TRUE(s.IsNotFound()) << s.message();
  EXPECT_NE(s.message().find("9999"), std::string::npos);

  ASSERT_TRUE(store_->TouchToken(b.id, 12345).ok());
  ASSERT_TRUE(store_->FindTokenByHash(std::string(64, 'b'), &found).ok());
  EXPECT_EQ(found.last_used_at_ms, 12345);
}

TEST_F(TokenStoreTest, DuplicateHashIsAConflict) {
  ApiToken a{0, "x", std::string(64, 'd'), ""};
  ASSERT_TRUE(store_->CreateToken(&a).ok());
  ApiToken b{0, "y", std::string(64, 'd'), ""};
  EXPECT_EQ(store_->CreateToken(&b).code(), Code::kConflict);
}

TEST_F(TokenStoreTest, TokensSurviveReopen) {
  ApiToken a{0, "ci", std::string(64, 'e'), "app"};
  ASSERT_TRUE(store_->CreateToken(&a).ok());
  store_.reset();
  ASSERT_TRUE(Store::Open(dir_ + "/bim.db", std::string(32, 'k'), &store_).ok());
  ApiToken found;
  ASSERT_TRUE(store_->FindTokenByHash(std::string(64, 'e'), &found).ok());
  EXPECT_EQ(found.app_scope, "app");
}

TEST(TokenNameTest, AcceptsAndRefuses) {
  for (const char* ok : {"ci", "deploy-bot.v2", "A_b-c.d", "x"}) EXPECT_TRUE(ValidateTokenName(ok).ok()) << ok;
  EXPECT_TRUE(ValidateTokenName(std::string(64, 'a')).ok());
  for (std::string bad : {std::string(""), std::string(65, 'a'), std::string("a b"), std::string("a;b"),
                          std::string("a{b}"), std::string("a\nb"), std::string("$x"), std::string("a\"b"),
                          std::string("a/b"), std::string("a\0b", 3), std::string("h\xD2\xBBllo")}) {
    Status s = ValidateTokenName(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one-line message";
  }
}

TEST(HealthPathTest, RefusesDotSegments) {
  for (const char* bad : {"/..", "/../etc/passwd", "/a/../b", "/./x", "/a/.", "/..?x=1"})
    EXPECT_EQ(ValidateHealthPath(bad).code(), Code::kInvalidArgument) << bad;
  for (const char* ok : {"/", "/healthz", "/a..b", "/.well-known/ready", "/x?a=..", "/a/...", "/v1.2/health"})
    EXPECT_TRUE(ValidateHealthPath(ok).ok()) << ok;
}

TEST(ListenPolicyTest, LoopbackNeedsNothing) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) EXPECT_TRUE(IsLoopbackHost(host)) << host;
  for (const char* host : {"0.0.0.0", "", "::", "10.0.0.1", "127.0.0.1.example.com", "127.1", "localhost.", "128.0.0.1"})
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  EXPECT_TRUE(CheckListenPolicy("127.0.0.1:7878", "", "", false).ok());
}

TEST(ListenPolicyTest, NonLoopbackNeedsTlsOrInsecure) {
  Status s = CheckListenPolicy("0.0.0.0:7878", "", "", false);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("--tls-cert"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--tls-key"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--insecure"), std::string::npos) << s.message();
  EXPECT_TRUE(CheckListenPolicy("0.0.0.0:7878", "c.pem", "k.pem", false).ok());
  EXPECT_TRUE(CheckListenPolicy("0.0.0.0:7878", "", "", true).ok());
  EXPECT_EQ(CheckListenPolicy("127.0.0.1:7878", "c.pem", "", false).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckListenPolicy("no-port", "", "", false).code(), Code::kInvalidArgument);
}

// Found by fuzz_app_config: toml++ quoted the offending byte raw, so a TOML syntax error message
// carried a newline (the CLI promises one-line errors).
TEST(FuzzRegressionTest, TomlSyntaxErrorIsOneLine) {
  AppConfig config;
  Status s = ParseAppConfig(std::string_view("app =t\ni--lm\"\"\"", 15), &config);
  ASSERT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("bim.toml line 1"), std::string::npos) << s.message();
}

// The tar check must not build a std::string from a NULL libarchive error (an empty or garbage buffer
// fails before any header is read) nor overflow on a header claiming a huge size.
TEST(FuzzRegressionTest, ContextCheckOnGarbageIsAnInvalidArgument) {
  ContextLimits limits;
  std::string garbage(1024, '\xff');
  Status s = CheckBuildContext(garbage.data(), garbage.size(), limits, "Dockerfile");
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.message();
  s = CheckBuildContext("", 0, limits, "Dockerfile");
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.message();
}

}  // namespace
}  // namespace bim
