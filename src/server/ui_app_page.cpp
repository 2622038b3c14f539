// The dashboard's page of one app, and its chart of release times.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/html.h"
#include "docker/engine_http.h"
#include "server/ui_pages.h"
#include "server/ui_render.h"

namespace bim {

using nlohmann::json;
using namespace ui;

namespace {

// At most this many failed releases show their last log lines (the newest ones).
constexpr int kFailedWithLogs = 5;

std::string Section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section aria-labelledby=\"" + id + "\"><h2 id=\"" + id + "\">" + EscapeHtml(title) + "</h2>\n" + body +
         "</section>\n";
}

std::string Duration(const json& r, const char* key) {
  long long ms = Num(r, key);
  return ms > 0 ? EscapeHtml(UiFormatMillis(ms)) : "—";
}

std::string ReleasesTable(const json& releases, long long now_ms) {
  if (!releases.is_array() || releases.empty()) return "<p>No releases yet.</p>\n";
  std::string out =
      "<div class=\"table-wrap\"><table class=\"cards releases\"><caption class=\"sr-only\">Releases, newest first"
      "</caption><thead><tr><th scope=\"col\">Release</th><th scope=\"col\">Status</th><th scope=\"col\">Kind</th>"
      "<th scope=\"col\">By</th><th scope=\"col\">Commit</th><th scope=\"col\">Build</th><th scope=\"col\">Health"
      "</th><th scope=\"col\">Total</th><th scope=\"col\">When</th></tr></thead>\n<tbody>\n";
  int failed_shown = 0;
  for (const json& r : releases) {
    std::string name = Str(r, "release");
    std::string status = Str(r, "status");
    std::string source = Str(r, "source");
    std::string id = "release-" + engine::QueryEscape(name);
    out += "<tr id=\"" + EscapeHtml(id) + "\"><th scope=\"row\" data-label=\"Release\">" + EscapeHtml(name) +
           "</th>" + Cell("Status", Badge(status), "") + Cell("Kind", EscapeHtml(Str(r, "kind")), "") +
           Cell("By", Str(r, "actor").empty() ? "—" : EscapeHtml(Str(r, "actor")), "") +
           Cell("Commit", source.empty() ? "—" : "<code>" + EscapeHtml(source) + "</code>", "") +
           Cell("Build", Duration(r, "build_ms"), "num") + Cell("Health", Duration(r, "health_ms"), "num") +
           Cell("Total", Duration(r, "total_ms"), "num") + Cell("When", UiTime(Num(r, "created_at_ms"), now_ms), "") +
           "</tr>\n";
    if (status != "failed") continue;
    out += "<tr class=\"failure\"><td colspan=\"9\"><p class=\"reason\"><strong>Why " + EscapeHtml(name) +
           " failed:</strong> " + EscapeHtml(Str(r, "failure_reason")) + "</p>";
    const json& tail = r.contains("log_tail") ? r["log_tail"] : json();
    if (tail.is_array() && !tail.empty() && failed_shown < kFailedWithLogs) {
      ++failed_shown;
      out += "<details" + std::string(failed_shown == 1 ? " open" : "") + "><summary>Its last " +
             std::to_string(tail.size()) + " log lines</summary><pre class=\"log-tail\">";
      for (const json& line : tail) out += EscapeHtml(line.is_string() ? line.get<std::string>() : "") + "\n";
      out += "</pre></details>";
    }
    out += "</td></tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

std::string EnvList(const json& keys) {
  if (!keys.is_array() || keys.empty()) return "<p>No environment variables.</p>\n";
  std::string out = "<p class=\"help\">Names only; values are never shown here (<code>bim env</code> with a token "
                    "allowed to read secrets shows them).</p>\n<ul class=\"keys\">";
  for (const json& k : keys) out += "<li><code>" + EscapeHtml(k.is_string() ? k.get<std::string>() : "") + "</code></li>";
  return out + "</ul>\n";
}

std::string DomainsBlock(const json& status, long long now_ms) {
  const json& domains = status.value("domains", json::array());
  const json& cert = status.value("certificate", json());
  std::string out;
  if (!domains.is_array() || domains.empty()) {
    out += "<p>No custom domains (<code>bim domains add</code>).</p>\n";
  } else {
    out += "<ul class=\"plain\">";
    for (const json& d : domains) out += "<li>" + EscapeHtml(d.is_string() ? d.get<std::string>() : "") + "</li>";
    out += "</ul>\n";
  }
  if (cert.is_object()) {
    out += "<dl class=\"facts\"><div><dt>Certificate</dt><dd>" + Badge(Str(cert, "state")) + " " +
           EscapeHtml(Str(cert, "source")) + "</dd></div>";
    if (Num(cert, "not_after_ms") > 0)
      out += "<div><dt>Valid until</dt><dd>" + UiTime(Num(cert, "not_after_ms"), now_ms) + "</dd></div>";
    if (!Str(cert, "error").empty())
      out += "<div><dt>Last error</dt><dd>" + EscapeHtml(Str(cert, "error")) + "</dd></div>";
    if (!Str(cert, "warning").empty())
      out += "<div><dt>Warning</dt><dd>" + EscapeHtml(Str(cert, "warning")) + "</dd></div>";
    out += "</dl>\n";
  }
  return out;
}

std::string AuditTable(const json& entries, long long now_ms) {
  if (!entries.is_array() || entries.empty()) return "<p>No audit entries.</p>\n";
  std::string out =
      "<div class=\"table-wrap\"><table class=\"cards\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Who"
      "</th><th scope=\"col\">Action</th><th scope=\"col\">Result</th><th scope=\"col\">Detail</th></tr></thead>"
      "<tbody>\n";
  for (const json& e : entries) {
    std::string result = Str(e, "result");
    out += "<tr>" + Cell("When", UiTime(Num(e, "at_ms"), now_ms), "") + Cell("Who", EscapeHtml(Str(e, "actor")), "") +
           Cell("Action", EscapeHtml(Str(e, "action")), "") +
           Cell("Result", result == "ok" ? Badge("ok") : "<span class=\"reason\">" + EscapeHtml(result) + "</span>", "") +
           Cell("Detail", EscapeHtml(Str(e, "detail")), "") + "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

}  // namespace

std::string RenderUiDurationChart(const json& releases, size_t max_releases) {
  std::vector<const json*> shown;
  if (releases.is_array())
    for (const json& r : releases) {
      if (shown.size() >= max_releases) break;
      if (Num(r, "total_ms") > 0) shown.push_back(&r);
    }
  if (shown.empty()) return "<p>No timed releases yet.</p>\n";
  std::reverse(shown.begin(), shown.end());  // oldest on the left
  long long max_ms = 1;
  for (const json* r : shown) max_ms = std::max({max_ms, Num(*r, "total_ms"), Num(*r, "build_ms"), Num(*r, "health_ms")});
  const double left = 64, right = 8, top = 12, bottom = 28, width = 640, height = 220;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const double group = plot_w / static_cast<double>(shown.size());
  const double bar = std::min(18.0, group / 4.0);
  auto y_of = [&](long long ms) { return top + plot_h - plot_h * static_cast<double>(ms) / static_cast<double>(max_ms); };
  char buf[256];
  std::string svg = "<figure class=\"chart\"><svg viewBox=\"0 0 640 220\" role=\"img\" aria-labelledby=\"chart-title "
                    "chart-desc\" preserveAspectRatio=\"xMidYMid meet\">";
  svg += "<title id=\"chart-title\">Build, health and total time per release</title><desc id=\"chart-desc\">";
  for (const json* r : shown)
    svg += EscapeHtml(Str(*r, "release") + ": build " + UiFormatMillis(Num(*r, "build_ms")) + ", health " +
                      UiFormatMillis(Num(*r, "health_ms")) + ", total " + UiFormatMillis(Num(*r, "total_ms")) + ". ");
  svg += "</desc>";
  for (int i = 0; i <= 2; ++i) {  // grid lines at 0, half and the maximum
    long long ms = max_ms * i / 2;
    double y = y_of(ms);
    std::snprintf(buf, sizeof buf, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, y,
                  width - right, y);
    svg += buf;
    std::snprintf(buf, sizeof buf, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 6, y + 4);
    svg += buf + EscapeHtml(UiFormatMillis(ms)) + "</text>";
  }
  const char* kinds[3][2] = {{"build_ms", "build"}, {"health_ms", "health"}, {"total_ms", "total"}};
  for (size_t i = 0; i < shown.size(); ++i) {
    const json& r = *shown[i];
    double x0 = left + group * static_cast<double>(i) + (group - 3 * bar) / 2;
    for (int k = 0; k < 3; ++k) {
      long long ms = Num(r, kinds[k][0]);
      double y = y_of(ms);
      std::snprintf(buf, sizeof buf, "<rect class=\"bar-%s%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">",
                    kinds[k][1], Str(r, "status") == "failed" ? " failed" : "", x0 + bar * k, y, bar - 1,
                    top + plot_h - y);
      svg += buf;
      svg += "<title>" + EscapeHtml(Str(r, "release") + " " + kinds[k][1] + " " + UiFormatMillis(ms)) + "</title></rect>";
    }
    std::snprintf(buf, sizeof buf, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                  x0 + 1.5 * bar, height - 10);
    svg += buf + EscapeHtml(Str(r, "release")) + "</text>";
  }
  svg += "</svg><figcaption><span class=\"key key-build\"></span>build <span class=\"key key-health\"></span>health "
         "<span class=\"key key-total\"></span>total (hatched: failed)</figcaption></figure>\n";
  return svg;
}

std::string RenderUiApp(const UiViewer& viewer, const json& page, long long now_ms) {
  const json& status = page.value("status", json::object());
  const json& releases = page.value("releases", json::array());
  std::string app = Str(status, "app");
  std::string main = "<p class=\"crumbs\">" + Link("/ui/", "Apps") + " / " + EscapeHtml(app) + "</p>\n";
  main += "<h1>" + EscapeHtml(app) + " " + Badge(Str(status, "state")) + "</h1>\n";
  const json& live = status.value("live", json());
  const json& container = status.value("container", json());
  main += "<dl class=\"facts\">";
  main += "<div><dt>URL</dt><dd>" + ExternalLink(Str(status, "url")) + "</dd></div>";
  main += "<div><dt>Live release</dt><dd>" + (live.is_object() ? EscapeHtml(Str(live, "release")) : "none") + "</dd></div>";
  if (container.is_object())
    main += "<div><dt>Restarts</dt><dd>" + EscapeHtml(Str(container, "restarts")) + "</dd></div>";
  main += "<div><dt>Health check</dt><dd><code>GET " + EscapeHtml(Str(status.value("health", json::object()), "path")) +
          "</code> on port " + EscapeHtml(Str(status, "port")) + "</dd></div>";
  main += "</dl>\n<p>" + Link(AppPath(app) + "/logs", "Live logs →") + "</p>\n";
  main += Section("chart-h", "Release times", RenderUiDurationChart(releases));
  main += Section("releases-h", "Releases", ReleasesTable(releases, now_ms));
  main += Section("env-h", "Environment", EnvList(page.value("env_keys", json::array())));
  main += Section("domains-h", "Domains and certificates", DomainsBlock(status, now_ms));
  main += Section("audit-h", "Audit log", AuditTable(page.value("audit", json::array()), now_ms));
  return RenderUiFrame(app, &viewer, main);
}

}  // namespace bim
