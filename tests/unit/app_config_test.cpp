#include "core/app_config.h"

#include <gtest/gtest.h>

#include <string>

namespace bim {
namespace {

using std::chrono::milliseconds;

Status ParseErr(std::string_view text) {
  AppConfig cfg;
  cfg.app = "keep";
  cfg.port = 1234;
  Status s = ParseAppConfig(text, &cfg);
  EXPECT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  // `out` is untouched on failure.
  EXPECT_EQ(cfg.app, "keep");
  EXPECT_EQ(cfg.port, 1234);
  EXPECT_EQ(cfg.health.path, "/");
  return s;
}

bool Contains(const Status& s, std::string_view part) { return s.message().find(part) != std::string::npos; }

TEST(AppConfigTest, DefaultsForEmptyFile) {
  AppConfig cfg;
  ASSERT_TRUE(ParseAppConfig("", &cfg).ok());
  EXPECT_EQ(cfg.app, "");
  EXPECT_EQ(cfg.port, 8080);
  EXPECT_EQ(cfg.health.path, "/");
  EXPECT_EQ(cfg.health.timeout, milliseconds(30000));
}

TEST(AppConfigTest, CommentsOnly) {
  AppConfig cfg;
  ASSERT_TRUE(ParseAppConfig("# nothing here\n\n", &cfg).ok());
  EXPECT_EQ(cfg.port, 8080);
}

TEST(AppConfigTest, FullFile) {
  AppConfig cfg;
  Status s = ParseAppConfig(R"(
app = "hello"   # the name
port = 3000

[health]
path = "/healthz?deep=1"
timeout = "2m"
)",
                            &cfg);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(cfg.app, "hello");
  EXPECT_EQ(cfg.port, 3000);
  EXPECT_EQ(cfg.health.path, "/healthz?deep=1");
  EXPECT_EQ(cfg.health.timeout, milliseconds(120000));
}

TEST(AppConfigTest, PartialKeepsOtherDefaults) {
  AppConfig cfg;
  ASSERT_TRUE(ParseAppConfig("[health]\ntimeout = \"5s\"\n", &cfg).ok());
  EXPECT_EQ(cfg.port, 8080);
  EXPECT_EQ(cfg.health.path, "/");
  EXPECT_EQ(cfg.health.timeout, milliseconds(5000));
  ASSERT_TRUE(ParseAppConfig("health.path = \"/up\"\n", &cfg).ok());  // dotted keys are TOML too
  EXPECT_EQ(cfg.health.path, "/up");
}

TEST(AppConfigTest, BadPort) {
  EXPECT_EQ(ParseErr("port = \"80a\"").message(), "bim.toml: port must be an integer 1-65535 (got \"80a\")");
  EXPECT_TRUE(Contains(ParseErr("port = 0"), "port must be an integer 1-65535 (got 0)"));
  EXPECT_TRUE(Contains(ParseErr("port = 65536"), "(got 65536)"));
  EXPECT_TRUE(Contains(ParseErr("port = -1"), "port must be"));
  EXPECT_TRUE(Contains(ParseErr("port = 80.5"), "port must be"));
  EXPECT_TRUE(Contains(ParseErr("port = true"), "(got true)"));
  EXPECT_TRUE(Contains(ParseErr("port = [80]"), "(got an array)"));
  EXPECT_TRUE(Contains(ParseErr("port = 99999999999999"), "port must be"));
}

TEST(AppConfigTest, BadAppName) {
  EXPECT_TRUE(Contains(ParseErr("app = \"Hello\""), "bim.toml: app name"));
  EXPECT_TRUE(Contains(ParseErr("app = \"my_app\""), "app name"));
  EXPECT_TRUE(Contains(ParseErr("app = \"\""), "app name"));
  EXPECT_TRUE(Contains(ParseErr("app = \"a;b\""), "app name"));
  EXPECT_TRUE(Contains(ParseErr("app = 5"), "app must be a string"));
}

TEST(AppConfigTest, UnknownKeys) {
  Status s = ParseErr("app = \"x\"\nprot = 80\n");
  EXPECT_TRUE(Contains(s, "unknown key \"prot\""));
  EXPECT_TRUE(Contains(s, "line 2"));
  EXPECT_TRUE(Contains(ParseErr("[health]\npth = \"/x\"\n"), "unknown key \"health.pth\""));
  EXPECT_TRUE(Contains(ParseErr("[helth]\npath = \"/x\"\n"), "unknown key \"helth\""));
  EXPECT_TRUE(Contains(ParseErr("[health.extra]\na = 1\n"), "unknown key \"health.extra\""));
}

TEST(AppConfigTest, BadHealth) {
  EXPECT_TRUE(Contains(ParseErr("health = 5"), "health must be a table"));
  EXPECT_TRUE(Contains(ParseErr("[health]\npath = \"healthz\""), "health path"));
  EXPECT_TRUE(Contains(ParseErr("[health]\npath = \"/a b\""), "health path"));
  EXPECT_TRUE(Contains(ParseErr("[health]\npath = 3"), "health.path must be a string"));
}

TEST(AppConfigTest, BadTimeout) {
  EXPECT_TRUE(Contains(ParseErr("[health]\ntimeout = \"30\""), "health.timeout"));
  EXPECT_TRUE(Contains(ParseErr("[health]\ntimeout = \"thirty\""), "invalid duration"));
  EXPECT_TRUE(Contains(ParseErr("[health]\ntimeout = 30"), "duration string"));
  EXPECT_TRUE(Contains(ParseErr("[health]\ntimeout = \"500ms\""), "between 1s and 1h"));
  EXPECT_TRUE(Contains(ParseErr("[health]\ntimeout = \"2h\""), "between 1s and 1h"));
  AppConfig cfg;
  ASSERT_TRUE(ParseAppConfig("[health]\ntimeout = \"1h\"", &cfg).ok());
  EXPECT_EQ(cfg.health.timeout, milliseconds(3600000));
  ASSERT_TRUE(ParseAppConfig("[health]\ntimeout = \"1000ms\"", &cfg).ok());
  EXPECT_EQ(cfg.health.timeout, milliseconds(1000));
}

TEST(AppConfigTest, Http) {
  AppConfig cfg;
  ASSERT_TRUE(ParseAppConfig("app = \"x\"", &cfg).ok());
  EXPECT_TRUE(cfg.http.force_https) << "redirect to HTTPS by default";
  EXPECT_FALSE(cfg.http.hsts) << "HSTS is opt-in";
  ASSERT_TRUE(ParseAppConfig("[http]\nforce_https = false\nhsts = true\n", &cfg).ok());
  EXPECT_FALSE(cfg.http.force_https);
  EXPECT_TRUE(cfg.http.hsts);
  EXPECT_TRUE(Contains(ParseErr("[http]\nforce_https = \"no\""), "http.force_https must be true or false"));
  EXPECT_TRUE(Contains(ParseErr("[http]\nhst = true"), "http.hst"));
  EXPECT_TRUE(Contains(ParseErr("http = 1"), "http must be a table"));
}

TEST(AppConfigTest, SyntaxErrorNamesLine) {
  Status s = ParseErr("app = \"x\"\nport = 80\nthis is not toml\n");
  EXPECT_TRUE(Contains(s, "bim.toml line 3")) << s.message();
  EXPECT_TRUE(Contains(ParseErr("app = \"unterminated\n"), "bim.toml line 1"));
  EXPECT_TRUE(Contains(ParseErr("port = 80\nport = 81\n"), "bim.toml line 2"));
}

TEST(AppConfigTest, ComposeSettingsNameTheServiceProfilesAndRoutes) {
  AppConfig cfg;
  Status s = ParseAppConfig(R"(
app = "shop"
service = "web"
profiles = ["jobs"]
[routes.admin]
port = 9000
health = "/ready"
domains = ["admin.example.com"]
[routes.www]
service = "web"
)",
                            &cfg);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(cfg.service, "web");
  EXPECT_FALSE(cfg.port_set);
  EXPECT_EQ(cfg.profiles, std::vector<std::string>{"jobs"});
  ASSERT_EQ(cfg.routes.size(), 2u);
  EXPECT_EQ(cfg.routes[0], (RouteConfig{"admin", "", 9000, "/ready", {"admin.example.com"}}));
  EXPECT_EQ(cfg.routes[1], (RouteConfig{"www", "web", 0, "/", {}}));
  ASSERT_TRUE(ParseAppConfig("port = 3000\n", &cfg).ok());
  EXPECT_TRUE(cfg.port_set);

  EXPECT_TRUE(Contains(ParseErr("service = \"Web\"\n"), "service name \"Web\" has an upper-case letter"));
  EXPECT_TRUE(Contains(ParseErr("[routes.admin]\nprot = 1\n"), "unknown key \"routes.admin.prot\""));
  EXPECT_TRUE(Contains(ParseErr("[routes.Admin]\n"), "routes.Admin: the route's name is its host name's first label"));
  EXPECT_TRUE(Contains(ParseErr("[routes.a]\ndomains = [\"bad domain\"]\n"), "routes.a.domains"));
  EXPECT_TRUE(Contains(ParseErr("[routes.a]\nhealth = \"no-slash\"\n"), "routes.a.health"));
  EXPECT_TRUE(Contains(ParseErr("profiles = [\"a b\"]\n"), "profile name \"a b\" is invalid"));
}

TEST(DurationTest, Parse) {
  milliseconds d{0};
  ASSERT_TRUE(ParseDuration("500ms", &d).ok());
  EXPECT_EQ(d, milliseconds(500));
  ASSERT_TRUE(ParseDuration("30s", &d).ok());
  EXPECT_EQ(d, milliseconds(30000));
  ASSERT_TRUE(ParseDuration("2m", &d).ok());
  EXPECT_EQ(d, milliseconds(120000));
  ASSERT_TRUE(ParseDuration("1h", &d).ok());
  EXPECT_EQ(d, milliseconds(3600000));
  ASSERT_TRUE(ParseDuration("250ms", &d).ok());
  EXPECT_EQ(d, milliseconds(250));
}

TEST(DurationTest, Rejects) {
  for (std::string_view t : {"", "30", "s", "0s", "-5s", "1.5s", "30 s", " 30s", "30s ", "30sec", "1d", "5M",
                             "ms", "99999999999999999999h", "1e3ms"}) {
    milliseconds d{7};
    Status s = ParseDuration(t, &d);
    EXPECT_FALSE(s.ok()) << t;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_EQ(d, milliseconds(7)) << t;
  }
  EXPECT_TRUE(Contains([] {
    milliseconds d;
    return ParseDuration("abc", &d);
  }(), "500ms, 30s, 2m, 1h"));
}

TEST(DurationTest, FormatRoundTrips) {
  EXPECT_EQ(FormatDuration(milliseconds(30000)), "30s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(120000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(3600000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "90s");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  for (long ms : {1L, 999L, 1000L, 61000L, 7200000L, 5400000L}) {
    milliseconds d{0};
    ASSERT_TRUE(ParseDuration(FormatDuration(milliseconds(ms)), &d).ok()) << ms;
    EXPECT_EQ(d, milliseconds(ms));
  }
}

}  // namespace
}  // namespace bim
