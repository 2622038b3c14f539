// The dashboard's pure parts: the one escaping function, the session store, and pages rendered from
// hostile data (the real-browser checks are the dashboard suite's).
#include <gtest/gtest.h>

#include "core/html.h"
#include "server/ui_pages.h"
#include "server/ui_session.h"

namespace bim {
namespace {

using nlohmann::json;

const std::string kHostile = "<script>alert(1)</script><img src=x onerror=\"a()\"> & 'q' </textarea>";

TEST(EscapeHtmlTest, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(EscapeHtml("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
  EXPECT_EQ(EscapeHtml(""), "");
  EXPECT_EQ(EscapeHtml("plain text 123"), "plain text 123");
  EXPECT_EQ(EscapeHtml("&amp;"), "&amp;amp;");  // an existing reference is shown, not interpreted
  std::string out = EscapeHtml(kHostile);
  for (char c : std::string("<>\"'")) EXPECT_EQ(out.find(c), std::string::npos) << c;
}

TEST(EscapeHtmlTest, KeepsUtf8AndWhitespaceAndReplacesControlsAndBrokenBytes) {
  EXPECT_EQ(EscapeHtml("héllo ✓ 🚀\tx\ny\r"), "héllo ✓ 🚀\tx\ny\r");
  EXPECT_EQ(EscapeHtml(std::string("a\0b", 3)), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(EscapeHtml("\x1b[31mred"), "\xEF\xBF\xBD[31mred");
  EXPECT_EQ(EscapeHtml("\xff<"), "\xEF\xBF\xBD&lt;");
  EXPECT_EQ(EscapeHtml("\xC0\xBC"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // an overlong '<' is not a '<' either
  EXPECT_EQ(EscapeHtml("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short
}

TEST(UiSessionsTest, ASessionNamesItsTokenUntilItExpiresOrEnds) {
  UiSessions sessions(10, std::chrono::milliseconds(1000));
  std::string id = sessions.Create("bim_token1", 5000);
  EXPECT_EQ(id.size(), 64u);
  std::string token;
  ASSERT_TRUE(sessions.Lookup(id, 5999, &token));
  EXPECT_EQ(token, "bim_token1");
  EXPECT_FALSE(sessions.Lookup(id + "0", 5000, &token));
  EXPECT_FALSE(sessions.Lookup("", 5000, &token));
  EXPECT_FALSE(sessions.Lookup(id, 6000, &token));  // expired, and removed
  EXPECT_EQ(sessions.size(), 0u);
  std::string other = sessions.Create("bim_token2", 7000);
  EXPECT_NE(other, id);
  sessions.Remove(other);
  EXPECT_FALSE(sessions.Lookup(other, 7000, &token));
}

TEST(UiSessionsTest, TheStoreIsBoundedExpiredFirstThenOldest) {
  UiSessions sessions(3, std::chrono::milliseconds(1000));
  std::string a = sessions.Create("a", 0);
  std::string b = sessions.Create("b", 500);
  std::string c = sessions.Create("c", 600);
  std::string d = sessions.Create("d", 700);  // full: the oldest (a) goes
  EXPECT_EQ(sessions.size(), 3u);
  std::string token;
  EXPECT_FALSE(sessions.Lookup(a, 700, &token));
  EXPECT_TRUE(sessions.Lookup(b, 700, &token));
  std::string e = sessions.Create("e", 1550);  // b expired at 1500: it goes, c and d stay
  EXPECT_TRUE(sessions.Lookup(c, 1550, &token));
  EXPECT_TRUE(sessions.Lookup(d, 1550, &token));
  EXPECT_TRUE(sessions.Lookup(e, 1550, &token));
  EXPECT_EQ(sessions.size(), 3u);
}

json HostileRelease(int version, const std::string& status) {
  return json{{"release", "v" + std::to_string(version)}, {"version", version}, {"status", status},
              {"kind", "deploy"}, {"actor", kHostile}, {"source", "1a2b3c4"}, {"failure_reason", kHostile},
              {"log_tail", {kHostile, "plain line"}}, {"build_ms", 1200}, {"health_ms", 300},
              {"total_ms", 1600}, {"created_at_ms", 1'700'000'000'000}};
}

// No tag or attribute from the data survives: every '<' in the page belongs to the page's own markup.
void ExpectNoInjectedMarkup(const std::string& html) {
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("onerror=\""), std::string::npos);
  EXPECT_EQ(html.find("</textarea>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("style=\""), std::string::npos);  // the CSP allows no inline style
}

TEST(UiPagesTest, AppsPageShowsTenantDataAsText) {
  UiViewer viewer{kHostile, ""};
  json apps = json::array({json{{"app", "shop"}, {"url", "javascript:alert(1)"}, {"live", "v1"}, {"state", kHostile},
                                {"restarts", 2}, {"latest", "v2"}, {"latest_status", "failed"},
                                {"updated_at_ms", 1'700'000'000'000}, {"failure_reason", kHostile}}});
  std::string html = RenderUiApps(viewer, apps, 1'700'000'060'000);
  ExpectNoInjectedMarkup(html);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);  // only http(s) URLs become links
  EXPECT_NE(html.find("href=\"/ui/apps/shop\""), std::string::npos);
  EXPECT_NE(html.find("1 min ago"), std::string::npos);
  EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
}

TEST(UiPagesTest, AppPageShowsFailuresLogTailsEnvKeysAndAChart) {
  UiViewer viewer{"admin", ""};
  json page{{"status", {{"app", "shop"}, {"state", "running"}, {"url", "http://shop.localhost/"},
                        {"live", HostileRelease(1, "live")}, {"container", {{"restarts", 0}}},
                        {"domains", {kHostile}}, {"certificate", nullptr}}},
            {"releases", {HostileRelease(2, "failed"), HostileRelease(1, "live")}},
            {"env_keys", {"DATABASE_URL"}},
            {"audit", {{{"at_ms", 1}, {"actor", kHostile}, {"action", "deploy"}, {"result", kHostile}, {"detail", kHostile}}}}};
  std::string html = RenderUiApp(viewer, page, 1'700'000'060'000);
  ExpectNoInjectedMarkup(html);
  EXPECT_NE(html.find("Why v2 failed"), std::string::npos);
  EXPECT_NE(html.find("plain line"), std::string::npos);
  EXPECT_NE(html.find("<code>DATABASE_URL</code>"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
}

TEST(UiPagesTest, TheChartHasThreeBarsPerTimedReleaseOldestFirst) {
  json releases = json::array({HostileRelease(3, "live"), HostileRelease(2, "failed"), HostileRelease(1, "retired")});
  releases[2]["total_ms"] = 0;  // never timed: left out
  std::string svg = RenderUiDurationChart(releases);
  size_t bars = 0;
  for (size_t at = svg.find("<rect"); at != std::string::npos; at = svg.find("<rect", at + 1)) ++bars;
  EXPECT_EQ(bars, 6u);
  EXPECT_LT(svg.find(">v2</text>"), svg.find(">v3</text>"));
  EXPECT_NE(svg.find("role=\"img\""), std::string::npos);
  EXPECT_EQ(RenderUiDurationChart(json::array()), "<p>No timed releases yet.</p>\n");
}

TEST(UiPagesTest, LogsPageEscapesLinesAndLoadsOnlyItsScript) {
  UiViewer viewer{"admin", ""};
  std::string html = RenderUiLogs(viewer, "shop", json::array({kHostile}), "/ui/apps/shop/logs/events");
  ExpectNoInjectedMarkup(html);
  EXPECT_NE(html.find("<script src=\"/ui/assets/logs.js\" defer></script>"), std::string::npos);
  EXPECT_NE(html.find("data-stream=\"/ui/apps/shop/logs/events\""), std::string::npos);
  EXPECT_EQ(RenderUiApps(viewer, json::array(), 0).find("<script"), std::string::npos);
}

TEST(UiPagesTest, DurationsAndSizesReadWell) {
  EXPECT_EQ(UiFormatMillis(850), "850 ms");
  EXPECT_EQ(UiFormatMillis(12'345), "12.3 s");
  EXPECT_EQ(UiFormatMillis(245'000), "4 min 05 s");
  EXPECT_EQ(UiFormatBytes(512), "512 B");
  EXPECT_EQ(UiFormatBytes(3'400'000), "3.4 MB");
  EXPECT_EQ(UiTime(0, 10), "—");
}

}  // namespace
}  // namespace bim
