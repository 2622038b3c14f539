// The dashboard's pages, rendered server-side from plain data into complete HTML documents. No HTTP
// here (ui_routes.cpp serves them): each function takes the JSON the API itself answers with, so the
// page and `bim ... --json` never disagree, and returns a string. Every piece of that data is written
// through EscapeHtml (core/html.h) or QueryEscape; nothing is trusted.
//
// The pages need no script (only the live-logs page loads /ui/assets/logs.js) and no inline style or
// script, so they work under the strict Content-Security-Policy ui_routes.cpp sends.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bim {

// Who is looking, for the page header.
struct UiViewer {
  std::string name;       // the token's name
  std::string app_scope;  // "" = every app
};

// A whole document: <head> with the stylesheet (and logs.js when `logs_script`), the header with
// navigation and the viewer (with a logout form), then `main_html` inside <main>.
std::string RenderUiFrame(const std::string& title, const UiViewer* viewer, const std::string& main_html,
                          bool logs_script = false);

// The login form. `error` ("" for none) is shown above it.
std::string RenderUiLogin(const std::string& error);

// A page for a refused or failed request: the status (403, 404, 500...) and the reason.
std::string RenderUiError(const UiViewer* viewer, int status, const std::string& message);

// All apps. `apps`: [{"app","url","live" (string or null),"state","restarts","latest","latest_status",
// "updated_at_ms","failure_reason"}] (the fields of GET /v1/apps, plus state and restarts from
// GET /v1/apps/{app}). `now_ms` (wall clock) is for "5 min ago".
std::string RenderUiApps(const UiViewer& viewer, const nlohmann::json& apps, long long now_ms);

// One app. `page`: {"status": GET /v1/apps/{app}, "releases": GET .../releases' list (each may carry
// "actor" and "log_tail"), "env_keys": [string], "audit": GET /v1/audit's entries}.
std::string RenderUiApp(const UiViewer& viewer, const nlohmann::json& page, long long now_ms);

// A bar chart of build, health and total time of the newest `max_releases` of `releases` (newest
// first, as the API lists them), oldest on the left: an inline <svg> with a text alternative.
std::string RenderUiDurationChart(const nlohmann::json& releases, size_t max_releases = 20);

// The live-logs page of `app`: the newest lines already read (`lines`), which logs.js replaces by a
// followed stream from `stream_url` (server-sent events).
std::string RenderUiLogs(const UiViewer& viewer, const std::string& app, const nlohmann::json& lines,
                         const std::string& stream_url);

// The server. `server`: {"info": GET /v1/server, "state": {"docker","proxy","images","contexts"},
// "nodes": GET /v1/nodes (or {"error"})}.
std::string RenderUiServer(const UiViewer& viewer, const nlohmann::json& server, long long now_ms);

// Text helpers the pages share (exposed for tests).
std::string UiFormatMillis(long long ms);                     // "850 ms", "12.3 s", "4 min 05 s"
std::string UiFormatBytes(long long bytes);                   // "512 B", "3.4 MB", "1.20 GB"
std::string UiTime(long long at_ms, long long now_ms);        // <time datetime=...>5 min ago</time>

}  // namespace bim
