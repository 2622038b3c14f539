// NginxRouter's file handling and failure paths through a fake CommandRunner (no nginx runs): a config
// `nginx -t` rejects is rolled back, a batch with one broken site fails only that site, a route nginx
// cannot be told about is restored on disk. The router suite runs the same router on the real nginx.
#include "proxy/nginx_router.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "base/file_util.h"
#include "unit/fakes.h"

namespace bim {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::string s;
  ReadFile(path, &s);
  return s;
}

class NginxRouterUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-router-unit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/templates");
    fs::copy(std::string(BIM_SOURCE_DIR) + "/templates/nginx", dir_ + "/templates");
    options_.prefix = dir_ + "/nginx";
    options_.template_dir = dir_ + "/templates";
    options_.listen = "127.0.0.1:1";
    options_.reload_confirm_timeout = std::chrono::milliseconds(100);
    fs::create_directories(options_.prefix + "/apps");
    fs::create_directories(options_.prefix + "/routes");
    // `nginx -t` fails while a site file of the app "broken" exists, with nginx's kind of message.
    runner_.handler = [this](const std::vector<std::string>& argv, std::string* output) {
      bool test = std::find(argv.begin(), argv.end(), "-t") != argv.end();
      if (test && fs::exists(options_.prefix + "/apps/broken.conf")) {
        *output = "nginx: [emerg] unknown directive \"bogus\" in " + options_.prefix + "/apps/broken.conf:3\n"
                  "nginx: configuration file test failed\n";
        return Status::FailedPrecondition("nginx exited with status 1");
      }
      return Status::OK();
    };
    router_ = std::make_unique<NginxRouter>(options_, &runner_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  int TestRuns() {
    std::lock_guard<std::mutex> lock(runner_.mu);
    int n = 0;
    for (const auto& argv : runner_.calls) n += std::find(argv.begin(), argv.end(), "-t") != argv.end();
    return n;
  }
  static Site SiteOf(const std::string& app) { return Site{app, {VirtualHost{{app + ".localhost"}, app, "", "", false}}}; }

  std::string dir_;
  NginxOptions options_;
  fakes::FakeRunner runner_;
  std::unique_ptr<NginxRouter> router_;
};

TEST_F(NginxRouterUnitTest, ARejectedConfigPutsThePreviousSiteFileBack) {
  std::string path = router_->SiteFile("broken");
  WriteFileAtomically(path, "# the site as it was\n");
  Status s = router_->PutSite(SiteOf("broken"));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "nginx rejected the config: nginx: [emerg] unknown directive \"bogus\" in " + options_.prefix +
                             "/apps/broken.conf:3")
      << "the first [emerg] line, which names the fix";
  EXPECT_EQ(Slurp(path), "# the site as it was\n");
  fs::remove(path);
  EXPECT_EQ(router_->PutSite(SiteOf("broken")).code(), Code::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(path)) << "a new site nginx rejects leaves no file";
}

TEST_F(NginxRouterUnitTest, AReloadThatCannotHappenRestoresToo) {
  Status s = router_->PutSite(SiteOf("shop"));
  EXPECT_EQ(s.code(), Code::kUnavailable) << "no master runs: " << s.message();
  EXPECT_FALSE(fs::exists(router_->SiteFile("shop")));
  EXPECT_EQ(TestRuns(), 1);
}

TEST_F(NginxRouterUnitTest, AnUnchangedSiteIsNeitherTestedNorReloaded) {
  router_->Start({SiteOf("shop")}, {});  // writes the files (the fake runner starts no nginx)
  int before = TestRuns();
  EXPECT_TRUE(router_->PutSite(SiteOf("shop")).ok());
  EXPECT_EQ(TestRuns(), before);
}

TEST_F(NginxRouterUnitTest, ABatchWithOneBrokenSiteFailsOnlyThatSite) {
  // Hold the first `nginx -t` until two more changes have queued behind it.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int calls = 0;
  auto base = runner_.handler;
  runner_.handler = [&](const std::vector<std::string>& argv, std::string* output) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (calls++ == 0) cv.wait(lock, [&] { return release; });
    }
    return base(argv, output);
  };
  auto first = std::async(std::launch::async, [&] { return router_->PutSite(SiteOf("alpha")); });
  while (TestRuns() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto broken = std::async(std::launch::async, [&] { return router_->PutSite(SiteOf("broken")); });
  auto good = std::async(std::launch::async, [&] { return router_->PutSite(SiteOf("gamma")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both queued behind "alpha"
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  Status a = first.get(), b = broken.get(), c = good.get();
  // alpha: tested alone, then no master to reload. broken+gamma: one batch test (fails), then each
  // alone: broken fails with nginx's message, gamma passes its test and fails only at the reload.
  EXPECT_EQ(a.code(), Code::kUnavailable) << a.message();
  EXPECT_EQ(b.code(), Code::kFailedPrecondition) << b.message();
  EXPECT_NE(b.message().find("unknown directive \"bogus\""), std::string::npos);
  EXPECT_EQ(c.code(), Code::kUnavailable) << c.message();
  EXPECT_EQ(TestRuns(), 4) << "1 for alpha, 1 for the batch, 1 each to find the broken one";
  EXPECT_FALSE(fs::exists(router_->SiteFile("broken")));
}

TEST_F(NginxRouterUnitTest, ARouteNginxCannotBeToldAboutIsRestoredOnDisk) {
  std::string path = router_->RouteFile("shop");
  WriteFileAtomically(path, "127.0.0.1:1111\n");
  Status s = router_->SetRoute("shop", {{"127.0.0.1", 2222}, {"127.0.0.1", 3333}});
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.message();
  EXPECT_NE(s.message().find("control.sock"), std::string::npos) << s.message();
  EXPECT_EQ(Slurp(path), "127.0.0.1:1111\n");
  EXPECT_EQ(router_->SetRoute("fresh", {{"127.0.0.1", 2222}}).code(), Code::kUnavailable);
  EXPECT_FALSE(fs::exists(router_->RouteFile("fresh")));
  EXPECT_EQ(Slurp(options_.prefix + "/routes/_index"), "") << "the new key left the index again";
}

TEST_F(NginxRouterUnitTest, RoutesAndSitesAreValidatedBeforeAnythingIsWritten) {
  EXPECT_EQ(router_->SetRoute("../etc", {}).code(), Code::kInvalidArgument);
  EXPECT_EQ(router_->SetRoute("Shop", {}).code(), Code::kInvalidArgument);
  EXPECT_EQ(router_->SetRoute("shop", {{"127.0.0.1", 0}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(router_->SetRoute("shop", {{"db.internal", 80}}).code(), Code::kInvalidArgument);
  Site tls = SiteOf("shop");
  tls.hosts[0].tls_certificate = "/x.pem";
  EXPECT_EQ(router_->PutSite(tls).code(), Code::kInvalidArgument);
  Site bad = SiteOf("shop");
  bad.hosts[0].server_names = {"shop.localhost; include /etc/passwd"};
  EXPECT_EQ(router_->PutSite(bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(TestRuns(), 0) << "nothing reached nginx";
  EXPECT_TRUE(fs::is_empty(options_.prefix + "/apps"));
  EXPECT_TRUE(fs::is_empty(options_.prefix + "/routes"));
}

TEST_F(NginxRouterUnitTest, StartWritesTheWholeTruthAndRemovesEverythingElse) {
  WriteFileAtomically(router_->SiteFile("gone"), "# an app destroyed while bimd was down\n");
  WriteFileAtomically(router_->RouteFile("gone"), "127.0.0.1:9\n");
  Status s = router_->Start({SiteOf("shop"), SiteOf("blog")},
                            {{"shop", {{"127.0.0.1", 21000}, {"10.0.0.2", 30001}}}, {"blog", {}}});
  // The fake runner starts no nginx, so the start itself times out; the files are in place first.
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.message();
  EXPECT_TRUE(fs::exists(router_->SiteFile("shop")));
  EXPECT_TRUE(fs::exists(router_->SiteFile("blog")));
  EXPECT_FALSE(fs::exists(router_->SiteFile("gone")));
  EXPECT_FALSE(fs::exists(router_->RouteFile("gone")));
  EXPECT_EQ(Slurp(router_->RouteFile("shop")), "127.0.0.1:21000 10.0.0.2:30001\n");
  EXPECT_EQ(Slurp(router_->RouteFile("blog")), "\n");
  EXPECT_EQ(Slurp(options_.prefix + "/routes/_index"), "blog\nshop\n");
  std::string conf = Slurp(router_->SiteFile("shop"));
  EXPECT_NE(conf.find("server_name shop.localhost;"), std::string::npos) << conf;
  EXPECT_NE(conf.find("set $bim_route \"shop\";"), std::string::npos) << conf;
  EXPECT_NE(Slurp(options_.prefix + "/nginx.conf").find("lua_shared_dict bim_routes 32m;"), std::string::npos);
  EXPECT_TRUE(fs::exists(options_.prefix + "/bim_router.lua"));

  // A main template nginx rejects: the previous nginx.conf is put back.
  std::string before = Slurp(options_.prefix + "/nginx.conf");
  std::ofstream(options_.template_dir + "/nginx.conf.mustache", std::ios::app) << "# {{prefix}}\n";
  runner_.handler = [](const std::vector<std::string>&, std::string* output) {
    *output = "nginx: [emerg] bad main config\n";
    return Status::FailedPrecondition("nginx exited with status 1");
  };
  s = router_->Start({SiteOf("shop")}, {{"shop", {}}});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "nginx rejected the config: nginx: [emerg] bad main config");
  EXPECT_EQ(Slurp(options_.prefix + "/nginx.conf"), before);
}

TEST(RouteKeyTest, KeysAreDnsLikeAndEndpointsAreIPv4) {
  EXPECT_TRUE(ValidateRouteKey("shop").ok());
  EXPECT_TRUE(ValidateRouteKey("shop.admin").ok());
  EXPECT_TRUE(ValidateRouteKey("0day").ok());
  EXPECT_FALSE(ValidateRouteKey("").ok());
  EXPECT_FALSE(ValidateRouteKey(".hidden").ok());
  EXPECT_FALSE(ValidateRouteKey("a/b").ok());
  EXPECT_FALSE(ValidateRouteKey("a b").ok());
  EXPECT_FALSE(ValidateRouteKey(std::string(129, 'a')).ok());
  Endpoint e;
  EXPECT_TRUE(ParseEndpoint("10.0.0.2:30001", &e).ok());
  EXPECT_EQ(e.host, "10.0.0.2");
  EXPECT_EQ(e.port, 30001);
  EXPECT_EQ(e.ToString(), "10.0.0.2:30001");
  for (const char* bad : {"10.0.0.2", "10.0.0.2:", "10.0.0.2:65536", "10.0.0.256:1", "1.2.3:4", "a.b.c.d:1",
                          "1.2.3.4:08", "1.2.3.4.5:1", ":80"})
    EXPECT_FALSE(ParseEndpoint(bad, &e).ok()) << bad;
  EXPECT_EQ(JoinEndpoints({{"1.2.3.4", 1}, {"5.6.7.8", 2}}), "1.2.3.4:1 5.6.7.8:2");
}

}  // namespace
}  // namespace bim
