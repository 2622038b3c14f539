// The dashboard suite (issue 14): a real bimd with deployed apps (one with a failed release whose log
// lines are hostile HTML), seen through headless Debian chromium driven by python3-selenium
// (browser_check.py): login, apps, one app, a failed release's reason, a new log line on the live-logs
// page within 2 s, an app-scoped token refused another app (also by direct URL), tenant data shown
// as text. Screenshots land in <build>/dashboard-screenshots/. Budget: 90 s.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(DashboardTest, ABrowserSeesAppsFailuresLiveLogsAndOnlyWhatItsTokenAllows) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromium") && fs::exists("/usr/bin/chromedriver"))
      << "chromium and chromium-driver are missing: run scripts/setup.sh";
  auto started = std::chrono::steady_clock::now();
  Bimd server;
  const std::string suffix = UniqueSuffix();
  const std::string app = "shop-" + suffix, other = "blog-" + suffix;
  const std::string hostile = "<b>bold</b><script>window.__bim_pwned=1</script>";
  const std::string secret = "s3cret-" + suffix;

  AppFolder shop(app, "GREETING=" + secret + "\nSTARTUP_LOG=" + hostile + "\n", "5s");
  CommandResult r = server.Bim({"deploy", shop.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  shop.Write(".env", "GREETING=" + secret + "\nSTARTUP_LOG=" + hostile + "\nHEALTH_STATUS=500\n");
  r = server.Bim({"deploy", shop.path(), "--json"});
  ASSERT_NE(r.exit_code, 0) << "v2 should fail its health check: " << r.out;
  shop.Write(".env", "GREETING=" + secret + "\n");  // v1 keeps running with the hostile startup line
  AppFolder blog(other, "GREETING=blog\n", "5s");
  ASSERT_EQ((r = server.Bim({"deploy", blog.path(), "--json"})).exit_code, 0) << r.out << r.err;
  r = server.Bim({"token", "create", "--name", "dash-" + suffix, "--app", app, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string scoped = r.Json().value("token", "");
  ASSERT_FALSE(scoped.empty());

  // `bim open` prints where the pages are.
  r = server.Bim({"open", app, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string base = "http://127.0.0.1:" + std::to_string(server.api_port());
  EXPECT_EQ(r.Json().value("url", ""), base + "/ui/apps/" + app);
  r = server.Bim({"open", "no-such-app-" + suffix});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no-such-app-" + suffix), std::string::npos) << r.err;
  auto deployed = std::chrono::steady_clock::now();

  const std::string shots = std::string(BIM_BINARY_DIR) + "/dashboard-screenshots";
  r = RunProcess({"/usr/bin/python3", std::string(BIM_SOURCE_DIR) + "/tests/dashboard/browser_check.py", "--url", base,
                  "--admin", server.token(), "--scoped", scoped, "--app", app, "--other", other, "--hostile", hostile,
                  "--secret", secret, "--shots", shots, "--http-port", std::to_string(server.http_port()),
                  "--budget", "70"},
                 {}, 80);
  std::printf("%s", r.out.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\nbimd log:\n" << server.Log().substr(0, 20000);
  auto done = std::chrono::steady_clock::now();
  using ms = std::chrono::milliseconds;
  std::printf("figure: setup (bimd + 3 deploys) %lld ms, browser checks %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<ms>(deployed - started).count()),
              static_cast<long long>(std::chrono::duration_cast<ms>(done - deployed).count()));
  for (const char* page : {"apps", "app", "logs", "server", "scoped-refused"})
    EXPECT_TRUE(fs::exists(shots + "/" + page + ".png")) << page;
}

}  // namespace
}  // namespace bim::testing
