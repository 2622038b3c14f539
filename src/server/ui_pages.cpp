// The dashboard's frame, login, apps, logs, server and error pages, and the text helpers they share
// (the one app page is in ui_app_page.cpp).
#include "server/ui_pages.h"

#include <cstdio>
#include <ctime>

#include "core/html.h"
#include "docker/engine_http.h"
#include "server/ui_render.h"

namespace bim {

using nlohmann::json;

std::string UiFormatMillis(long long ms) {
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lld ms", ms < 0 ? 0 : ms);
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", ms / 60'000, (ms / 1000) % 60);
  }
  return buf;
}

std::string UiFormatBytes(long long bytes) {
  char buf[64];
  if (bytes < 1000) std::snprintf(buf, sizeof buf, "%lld B", bytes < 0 ? 0 : bytes);
  else if (bytes < 1'000'000) std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  else if (bytes < 1'000'000'000) std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  return buf;
}

std::string UiTime(long long at_ms, long long now_ms) {
  if (at_ms <= 0) return "—";
  std::time_t secs = static_cast<std::time_t>(at_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char iso[32], full[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::strftime(full, sizeof full, "%Y-%m-%d %H:%M:%S UTC", &tm);
  long long ago = (now_ms - at_ms) / 1000;
  std::string rel;
  if (ago <= 0) rel = full;  // now (or a clock ahead of ours): the time itself
  else if (ago < 60) rel = std::to_string(ago) + " s ago";
  else if (ago < 3600) rel = std::to_string(ago / 60) + " min ago";
  else if (ago < 86400) rel = std::to_string(ago / 3600) + " h ago";
  else rel = std::to_string(ago / 86400) + " d ago";
  return std::string("<time datetime=\"") + iso + "\" title=\"" + full + "\">" + EscapeHtml(rel) + "</time>";
}

namespace ui {

std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  if (it->is_number()) return it->dump();
  return "";
}

long long Num(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<long long>();
}

std::string StateClass(const std::string& state) {
  if (state.starts_with("running") || state == "live" || state == "ok" || state == "valid" || state == "ready" ||
      state == "answering")
    return "ok";
  if (state == "not deployed" || state == "retired" || state.empty()) return "muted";
  if (state.starts_with("down") || state.starts_with("exited") || state == "failed" || state == "error" ||
      state.starts_with("unreachable"))
    return "bad";
  return "warn";
}

std::string Badge(const std::string& text) {
  return "<span class=\"badge " + StateClass(text) + "\">" + EscapeHtml(text) + "</span>";
}

std::string Link(const std::string& href, const std::string& text) {
  return "<a href=\"" + EscapeHtml(href) + "\">" + EscapeHtml(text) + "</a>";
}

std::string ExternalLink(const std::string& url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) return EscapeHtml(url);
  return "<a href=\"" + EscapeHtml(url) + "\" rel=\"noopener noreferrer\">" + EscapeHtml(url) + "</a>";
}

std::string AppPath(const std::string& app) { return "/ui/apps/" + engine::QueryEscape(app); }

std::string Cell(const char* label, const std::string& html, const char* cls) {
  std::string out = "<td data-label=\"";
  out += label;
  out += "\"";
  if (cls && *cls) out += std::string(" class=\"") + cls + "\"";
  return out + ">" + html + "</td>";
}

}  // namespace ui

using namespace ui;

std::string RenderUiFrame(const std::string& title, const UiViewer* viewer, const std::string& main_html,
                          bool logs_script) {
  std::string out =
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"color-scheme\" content=\"light dark\">\n<title>" +
      EscapeHtml(title) + " · bim</title>\n<link rel=\"stylesheet\" href=\"/ui/assets/ui.css\">\n";
  if (logs_script) out += "<script src=\"/ui/assets/logs.js\" defer></script>\n";
  out += "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header class=\"top\">\n";
  out += "<nav aria-label=\"Main\"><a class=\"brand\" href=\"/ui/\">bim</a>";
  if (viewer) out += "<ul><li><a href=\"/ui/\">Apps</a></li><li><a href=\"/ui/server\">Server</a></li></ul>";
  out += "</nav>\n";
  if (viewer) {
    out += "<div class=\"who\"><span>Signed in as <strong>" + EscapeHtml(viewer->name) + "</strong>";
    if (!viewer->app_scope.empty()) out += " (app " + EscapeHtml(viewer->app_scope) + " only)";
    out += "</span><form method=\"post\" action=\"/ui/logout\"><button type=\"submit\">Log out</button></form></div>\n";
  }
  out += "</header>\n<main id=\"main\">\n" + main_html + "</main>\n";
  out += "<footer><p>bim dashboard · read-only · pages are rendered from the same data as <code>bim --json</code></p></footer>\n";
  out += "</body>\n</html>\n";
  return out;
}

std::string RenderUiLogin(const std::string& error) {
  std::string main = "<section class=\"login\" aria-labelledby=\"login-title\">\n<h1 id=\"login-title\">Sign in to bim</h1>\n";
  if (!error.empty()) main += "<p class=\"alert\" role=\"alert\">" + EscapeHtml(error) + "</p>\n";
  main +=
      "<form method=\"post\" action=\"/ui/login\">\n"
      "<label for=\"token\">API token</label>\n"
      "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required "
      "spellcheck=\"false\" placeholder=\"bim_…\" aria-describedby=\"token-help\">\n"
      "<p id=\"token-help\" class=\"help\">Paste a token from <code>bim token create</code> (or the admin token in "
      "bimd's data dir). It is kept by the server; your browser only gets a session cookie.</p>\n"
      "<button type=\"submit\">Sign in</button>\n</form>\n</section>\n";
  return RenderUiFrame("Sign in", nullptr, main);
}

std::string RenderUiError(const UiViewer* viewer, int status, const std::string& message) {
  std::string main = "<h1>" + std::to_string(status) + "</h1>\n<p class=\"alert\" role=\"alert\">" +
                     EscapeHtml(message) + "</p>\n<p><a href=\"/ui/\">Back to the apps</a></p>\n";
  return RenderUiFrame("Error " + std::to_string(status), viewer, main);
}

std::string RenderUiApps(const UiViewer& viewer, const json& apps, long long now_ms) {
  size_t count = apps.is_array() ? apps.size() : 0;
  std::string main = "<h1>Apps</h1>\n<p class=\"lead\">" + std::to_string(count) + (count == 1 ? " app" : " apps");
  if (!viewer.app_scope.empty()) main += " visible to this token";
  main += "</p>\n";
  if (count == 0) {
    main += "<p>Nothing deployed yet: run <code>bim deploy</code> in an app's folder.</p>\n";
    return RenderUiFrame("Apps", &viewer, main);
  }
  main +=
      "<div class=\"table-wrap\"><table class=\"cards\">\n<caption class=\"sr-only\">Apps, their live release and "
      "last deploy</caption>\n<thead><tr><th scope=\"col\">App</th><th scope=\"col\">URL</th><th scope=\"col\">Live"
      "</th><th scope=\"col\">State</th><th scope=\"col\">Restarts</th><th scope=\"col\">Last deploy</th></tr>"
      "</thead>\n<tbody>\n";
  for (const json& a : apps) {
    std::string name = Str(a, "app");
    std::string live = Str(a, "live");
    std::string last = "—";
    if (!Str(a, "latest").empty()) {
      last = Badge(Str(a, "latest_status")) + " " + EscapeHtml(Str(a, "latest")) + " · " +
             UiTime(Num(a, "updated_at_ms"), now_ms);
      if (!Str(a, "failure_reason").empty())
        last += "<div class=\"reason\">" + EscapeHtml(Str(a, "failure_reason")) + "</div>";
    }
    main += "<tr><th scope=\"row\" data-label=\"App\">" + Link(AppPath(name), name) + "</th>" +
            Cell("URL", ExternalLink(Str(a, "url")), "url") + Cell("Live", live.empty() ? "—" : EscapeHtml(live), "") +
            Cell("State", Badge(Str(a, "state")), "") + Cell("Restarts", Str(a, "restarts").empty() ? "—" : EscapeHtml(Str(a, "restarts")), "num") +
            Cell("Last deploy", last, "") + "</tr>\n";
  }
  main += "</tbody>\n</table></div>\n";
  return RenderUiFrame("Apps", &viewer, main);
}

std::string RenderUiLogs(const UiViewer& viewer, const std::string& app, const json& lines,
                         const std::string& stream_url) {
  std::string main = "<p class=\"crumbs\">" + Link("/ui/", "Apps") + " / " + Link(AppPath(app), app) + "</p>\n";
  main += "<h1>Live logs <span class=\"sub\">" + EscapeHtml(app) + "</span></h1>\n";
  size_t n = lines.is_array() ? lines.size() : 0;
  main += "<p id=\"log-status\" class=\"status-line\" role=\"status\" aria-live=\"polite\">The last " +
          std::to_string(n) + " lines. Turn on JavaScript to follow new lines as they come.</p>\n";
  main += "<ol id=\"log\" class=\"log\" data-stream=\"" + EscapeHtml(stream_url) + "\" aria-label=\"Log lines of " +
          EscapeHtml(app) + "\">\n";
  if (lines.is_array())
    for (const json& l : lines) main += "<li>" + EscapeHtml(l.is_string() ? l.get<std::string>() : "") + "</li>\n";
  main += "</ol>\n";
  return RenderUiFrame("Logs of " + app, &viewer, main, true);
}

std::string RenderUiServer(const UiViewer& viewer, const json& server, long long now_ms) {
  const json& info = server.value("info", json::object());
  const json& state = server.value("state", json::object());
  std::string main = "<h1>Server</h1>\n<div class=\"grid\">\n";
  auto card = [&](const std::string& title, const std::string& body) {
    main += "<section class=\"card\" aria-label=\"" + EscapeHtml(title) + "\"><h2>" + EscapeHtml(title) + "</h2>" +
            body + "</section>\n";
  };
  auto row = [](const std::string& k, const std::string& v_html) {
    return "<div><dt>" + EscapeHtml(k) + "</dt><dd>" + v_html + "</dd></div>";
  };
  const json& docker = state.value("docker", json::object());
  const json& images = state.value("images", json::object());
  card("Docker", "<dl>" + row("State", Badge(Str(docker, "state"))) +
                     (Str(docker, "error").empty() ? "" : row("Error", EscapeHtml(Str(docker, "error")))) +
                     row("Engine", EscapeHtml(Str(info, "engine"))) +
                     row("Images of bim", EscapeHtml(Str(images, "count"))) +
                     row("Disk used by images", EscapeHtml(UiFormatBytes(Num(images, "bytes")))) + "</dl>");
  const json& proxy = state.value("proxy", json::object());
  card("nginx", "<dl>" + row("State", Badge(Str(proxy, "state"))) +
                    (Str(proxy, "error").empty() ? "" : row("Error", EscapeHtml(Str(proxy, "error")))) +
                    row("Serves apps on", EscapeHtml(Str(info, "http_listen"))) +
                    row("App URLs", EscapeHtml(Str(info, "app_url_pattern"))) + "</dl>");
  const json& contexts = state.value("contexts", json::object());
  card("Build contexts", "<dl>" + row("Disk used", EscapeHtml(UiFormatBytes(Num(contexts, "bytes")))) +
                             row("Apps holding contexts", EscapeHtml(Str(contexts, "apps"))) + "</dl>");
  std::string bimd = "<dl>" + row("Instance", "<code>" + EscapeHtml(Str(info, "instance")) + "</code>") +
                     row("Domain", EscapeHtml(Str(info, "domain")));
  if (!Str(info, "registry").empty()) bimd += row("Registry", EscapeHtml(Str(info, "registry")));
  if (info.contains("api_certificate")) {
    const json& c = info["api_certificate"];
    bimd += row("API certificate", EscapeHtml(Str(c, "domain")) + " " + Badge(Str(c, "state")));
  }
  card("bimd", bimd + "</dl>");
  main += "</div>\n";

  const json& nodes = server.value("nodes", json::object());
  main += "<section aria-labelledby=\"nodes-title\"><h2 id=\"nodes-title\">Nodes</h2>\n";
  if (!Str(nodes, "error").empty()) {
    main += "<p class=\"alert\">" + EscapeHtml(Str(nodes, "error")) + "</p>\n";
  } else if (nodes.contains("nodes") && nodes["nodes"].is_array()) {
    main +=
        "<div class=\"table-wrap\"><table class=\"cards\"><thead><tr><th scope=\"col\">Host</th><th scope=\"col\">"
        "Role</th><th scope=\"col\">State</th><th scope=\"col\">Address</th><th scope=\"col\">Docker</th>"
        "<th scope=\"col\">Instances of bim</th></tr></thead><tbody>\n";
    for (const json& n : nodes["nodes"]) {
      std::string role = Str(n, "role") + (n.value("leader", false) ? " (leader)" : "");
      std::string st = Badge(Str(n, "state"));
      if (!Str(n, "warning").empty()) st += "<div class=\"reason\">" + EscapeHtml(Str(n, "warning")) + "</div>";
      size_t tasks = n.contains("tasks") && n["tasks"].is_array() ? n["tasks"].size() : 0;
      main += "<tr><th scope=\"row\" data-label=\"Host\">" + EscapeHtml(Str(n, "hostname")) + "</th>" +
              Cell("Role", EscapeHtml(role), "") + Cell("State", st, "") +
              Cell("Address", EscapeHtml(Str(n, "address")), "") +
              Cell("Docker", EscapeHtml(Str(n, "engine_version")), "") +
              Cell("Instances", std::to_string(tasks), "num") + "</tr>\n";
    }
    main += "</tbody></table></div>\n";
  }
  main += "</section>\n<p class=\"help\">As of " + UiTime(now_ms, now_ms) + "; reload for news.</p>\n";
  return RenderUiFrame("Server", &viewer, main);
}

}  // namespace bim
