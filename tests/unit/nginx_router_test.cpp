// NginxRouter's file handling and failure paths through a fake CommandRunner (no nginx runs): a config
// `nginx -t` rejects is put back, a route or site nginx cannot be told about is restored on disk,
// input is validated before anything is written. The router suite runs the same code on real nginx.
#include "proxy/nginx_router.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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
    options_.control_timeout = std::chrono::milliseconds(500);
    fs::create_directories(options_.prefix + "/sites");
    fs::create_directories(options_.prefix + "/routes");
    // `nginx -t` fails with nginx's kind of message while reject_ is set.
    runner_.handler = [this](const std::vector<std::string>& argv, std::string* output) {
      bool test = std::find(argv.begin(), argv.end(), "-t") != argv.end();
      if (test && reject_) {
        *output = "nginx: [emerg] unknown directive \"bogus\" in " + options_.prefix + "/apps.conf:12\n"
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
  bool reject_ = false;
  std::unique_ptr<NginxRouter> router_;
};

TEST_F(NginxRouterUnitTest, CertifiedNamesCarryTheirCertificateInTheHostTableAndHttpsIsOneListener) {
  NginxOptions with_https = options_;
  with_https.https_listen = "127.0.0.1:8443";
  with_https.acme_challenge = "127.0.0.1:4020";
  NginxRouter router(with_https, &runner_);
  Site site = SiteOf("shop");
  site.hosts.push_back(VirtualHost{{"shop.example.com"}, "shop", "/d/certs/shop/1.crt", "/d/certs/shop/1.key", true, true});
  site.hosts.push_back(VirtualHost{{"new.example.com"}, "shop"});
  EXPECT_EQ(router.Start({site}, {{"shop", {{"127.0.0.1", 21000}}}}).code(), Code::kUnavailable);  // no nginx here
  EXPECT_EQ(Slurp(router.SiteFile("shop")),
            "shop.localhost shop\nshop.example.com shop /d/certs/shop/1.crt /d/certs/shop/1.key rh\nnew.example.com shop\n");
  std::string apps = Slurp(with_https.prefix + "/apps.conf");
  EXPECT_NE(apps.find("listen 127.0.0.1:8443 ssl default_server;"), std::string::npos) << apps;
  EXPECT_NE(apps.find("ssl_certificate_by_lua_block"), std::string::npos);
  EXPECT_NE(apps.find("set $bim_https_port \":8443\";"), std::string::npos);
  EXPECT_NE(apps.find("proxy_pass http://127.0.0.1:4020;"), std::string::npos) << "ACME challenges reach lego";
  EXPECT_TRUE(fs::exists(with_https.prefix + "/tls/fallback.crt"));
  EXPECT_EQ(fs::status(with_https.prefix + "/tls/fallback.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // Without an HTTPS listener, or with hostile paths, nothing is written.
  EXPECT_EQ(router_->PutSite(site).code(), Code::kInvalidArgument);
  Site hostile = SiteOf("blog");
  hostile.hosts.push_back(VirtualHost{{"blog.example.com"}, "blog", "/d/x.crt /etc/passwd", "/d/x.key"});
  EXPECT_EQ(router.PutSite(hostile).code(), Code::kInvalidArgument);
  Site redirect_only = SiteOf("blog");
  redirect_only.hosts[0].redirect_to_https = true;
  EXPECT_EQ(router.PutSite(redirect_only).code(), Code::kInvalidArgument)
      << "a redirect to HTTPS without a certificate would send users nowhere";
  EXPECT_FALSE(fs::exists(router.SiteFile("blog")));
}

TEST_F(NginxRouterUnitTest, StartWritesTheWholeTruthAndRemovesEverythingElse) {
  WriteFileAtomically(router_->SiteFile("gone"), "gone.localhost gone\n");
  WriteFileAtomically(router_->RouteFile("gone"), "127.0.0.1:9\n");
  fs::create_directories(options_.prefix + "/apps");
  WriteFileAtomically(options_.prefix + "/apps/old.conf", "# a server block of the earlier layout\n");
  Site shop = SiteOf("shop");
  shop.hosts[0].server_names.push_back("Shop.Example.COM");
  Status s = router_->Start({shop, SiteOf("blog")}, {{"shop", {{"127.0.0.1", 21000}, {"10.0.0.2", 30001}}}, {"blog", {}}});
  // The fake runner starts no nginx, so the start itself times out; the files are in place first.
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.message();
  EXPECT_EQ(Slurp(router_->SiteFile("shop")), "shop.localhost shop\nshop.example.com shop\n") << "names lower-cased";
  EXPECT_EQ(Slurp(router_->SiteFile("blog")), "blog.localhost blog\n");
  EXPECT_EQ(Slurp(router_->RouteFile("shop")), "127.0.0.1:21000 10.0.0.2:30001\n");
  EXPECT_EQ(Slurp(router_->RouteFile("blog")), "\n");
  EXPECT_EQ(Slurp(options_.prefix + "/routes/_index"), "blog\nshop\n");
  EXPECT_EQ(Slurp(options_.prefix + "/sites/_index"), "blog\nshop\n");
  EXPECT_FALSE(fs::exists(router_->SiteFile("gone")));
  EXPECT_FALSE(fs::exists(router_->RouteFile("gone")));
  EXPECT_FALSE(fs::exists(options_.prefix + "/apps")) << "the per-app server blocks of earlier versions go";
  std::string apps = Slurp(options_.prefix + "/apps.conf");
  EXPECT_NE(apps.find("listen 127.0.0.1:1 default_server;"), std::string::npos) << apps;
  EXPECT_EQ(apps.find("shop"), std::string::npos) << "no app is named in the config: apps are data";
  std::string main = Slurp(options_.prefix + "/nginx.conf");
  EXPECT_NE(main.find("lua_shared_dict bim_routes 32m;"), std::string::npos);
  EXPECT_NE(main.find("include " + options_.prefix + "/apps.conf;"), std::string::npos);
  EXPECT_TRUE(fs::exists(options_.prefix + "/bim_router.lua"));
}

TEST_F(NginxRouterUnitTest, AConfigNginxRejectsIsPutBackAndNamesNginxsMessage) {
  router_->Start({SiteOf("shop")}, {{"shop", {}}});
  std::string main = Slurp(options_.prefix + "/nginx.conf"), apps = Slurp(options_.prefix + "/apps.conf");
  // An operator's template mistake.
  std::ofstream(options_.template_dir + "/app.conf.mustache", std::ios::app) << "bogus;\n";
  reject_ = true;
  Status s = router_->Start({SiteOf("shop")}, {{"shop", {}}});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "nginx rejected the config: nginx: [emerg] unknown directive \"bogus\" in " +
                             options_.prefix + "/apps.conf:12")
      << "the first [emerg] line, which names the fix";
  EXPECT_EQ(Slurp(options_.prefix + "/apps.conf"), apps) << "the previous config is back";
  EXPECT_EQ(Slurp(options_.prefix + "/nginx.conf"), main);
}

TEST_F(NginxRouterUnitTest, ARouteOrSiteNginxCannotBeToldAboutIsRestoredOnDisk) {
  std::string path = router_->RouteFile("shop");
  WriteFileAtomically(path, "127.0.0.1:1111\n");
  Status s = router_->SetRoute("shop", {{"127.0.0.1", 2222}, {"127.0.0.1", 3333}});
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.message();
  EXPECT_NE(s.message().find("control.sock"), std::string::npos) << s.message();
  EXPECT_EQ(Slurp(path), "127.0.0.1:1111\n");
  EXPECT_EQ(router_->SetRoute("fresh", {{"127.0.0.1", 2222}}).code(), Code::kUnavailable);
  EXPECT_FALSE(fs::exists(router_->RouteFile("fresh")));
  EXPECT_EQ(Slurp(options_.prefix + "/routes/_index"), "") << "the new key left the index again";

  EXPECT_EQ(router_->PutSite(SiteOf("shop")).code(), Code::kUnavailable);
  EXPECT_FALSE(fs::exists(router_->SiteFile("shop")));
  WriteFileAtomically(router_->SiteFile("blog"), "blog.localhost blog\n");
  Site renamed{"blog", {VirtualHost{{"journal.localhost"}, "blog", "", "", false}}};
  EXPECT_EQ(router_->PutSite(renamed).code(), Code::kUnavailable);
  EXPECT_EQ(Slurp(router_->SiteFile("blog")), "blog.localhost blog\n");
}

TEST_F(NginxRouterUnitTest, AnUnchangedSiteSendsNothingAndAHostNameBelongsToOneApp) {
  router_->Start({SiteOf("shop")}, {{"shop", {}}});  // writes the files (the fake starts no nginx)
  int tests = TestRuns();
  EXPECT_TRUE(router_->PutSite(SiteOf("shop")).ok()) << "nothing to tell nginx, so its absence does not matter";
  EXPECT_EQ(TestRuns(), tests) << "and nothing is tested or reloaded";
  Site thief{"blog", {VirtualHost{{"blog.localhost", "shop.localhost"}, "blog", "", "", false}}};
  Status s = router_->PutSite(thief);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(), "host name shop.localhost already belongs to app shop (remove it there first)");
  EXPECT_FALSE(fs::exists(router_->SiteFile("blog")));
  s = router_->Start({SiteOf("shop"), thief}, {});
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_NE(s.message().find("shop.localhost belongs to both shop and blog"), std::string::npos) << s.message();
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
  Site twice = SiteOf("shop");
  twice.hosts[0].server_names.push_back("SHOP.localhost");
  EXPECT_EQ(router_->PutSite(twice).code(), Code::kInvalidArgument);
  Site badroute = SiteOf("shop");
  badroute.hosts[0].route = "a b";
  EXPECT_EQ(router_->PutSite(badroute).code(), Code::kInvalidArgument);
  EXPECT_EQ(TestRuns(), 0) << "nothing reached nginx";
  EXPECT_TRUE(fs::is_empty(options_.prefix + "/sites"));
  EXPECT_TRUE(fs::is_empty(options_.prefix + "/routes"));
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
