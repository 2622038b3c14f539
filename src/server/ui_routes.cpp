// The dashboard's routes (issue 14): read-only pages at /ui/ on the API listener. The only part of the
// dashboard that knows the HTTP library; pages come from ui_pages.h, their data from ui_data.h.
//
// Login: POST /ui/login with a token (checked by the Authenticator like a bearer token) creates a
// UiSessions entry whose id goes to the browser in an HttpOnly, SameSite=Strict cookie limited to /ui.
// Every page checks the session's token again, so a revoked token's sessions end at once, and an
// app-scoped token sees only its app (403 page for another app, also by direct URL).
// CSRF: every page is GET and changes nothing; the two POSTs (login, logout) are refused unless the
// browser says they come from this origin (Origin, else Sec-Fetch-Site), and the cookie is SameSite.
// Every answer carries a strict Content-Security-Policy: no inline script or style, no other origin.
#include <atomic>
#include <cstdio>
#include <memory>

#include "base/file_util.h"
#include "core/html.h"
#include "docker/engine_http.h"
#include "core/validate.h"
#include "server/api_context.h"
#include "server/ui_assets.h"
#include "server/ui_data.h"
#include "server/ui_pages.h"
#include "server/ui_session.h"

namespace bim {

using nlohmann::json;

namespace {

constexpr const char* kCookie = "bim_session";
constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

struct UiState {
  UiState(size_t max_sessions, std::chrono::milliseconds ttl) : sessions(max_sessions, ttl) {}
  UiSessions sessions;
  std::atomic<int> log_streams{0};
};

void SecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts.
  res.set_header("Referrer-Policy", "same-origin");
  res.set_header("Cache-Control", "no-store");
}

void SendPage(httplib::Response& res, int status, const std::string& html) {
  SecurityHeaders(res);
  res.status = status;
  res.set_content(html, "text/html; charset=utf-8");
}

void Redirect(httplib::Response& res, const std::string& to) {
  SecurityHeaders(res);
  res.status = 303;
  res.set_header("Location", to);
}

std::string CookieValue(const httplib::Request& req, const std::string& name) {
  std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    size_t start = part.find_first_not_of(' ');
    if (start != std::string::npos && part.compare(start, name.size() + 1, name + "=") == 0)
      return part.substr(start + name.size() + 1);
    pos = end + 1;
  }
  return "";
}

bool Tls(const ApiContext& ctx) { return ctx.api_tls || !ctx.options.tls_cert.empty(); }

// A POST from this origin: the browser's Origin header names us, or (a browser that sent none) its
// Sec-Fetch-Site says same-origin. Anything else (another site's form, a bare client) is refused.
bool SameOrigin(const ApiContext& ctx, const httplib::Request& req) {
  std::string origin = req.get_header_value("Origin");
  std::string host = req.get_header_value("Host");
  if (!origin.empty()) return !host.empty() && origin == (Tls(ctx) ? "https://" : "http://") + host;
  return req.get_header_value("Sec-Fetch-Site") == "same-origin";
}

// The viewer of a request with a live session whose token still passes; false otherwise.
bool SessionPrincipal(const ApiContext& ctx, UiState& ui, const httplib::Request& req, Principal* who) {
  std::string token;
  if (!ui.sessions.Lookup(CookieValue(req, kCookie), NowMillis(), &token)) return false;
  if (!ctx.auth.Check("Bearer " + token, &who->name, &who->app_scope, &who->read_secrets).ok()) {
    ui.sessions.Remove(CookieValue(req, kCookie));
    return false;
  }
  return true;
}

UiViewer Viewer(const Principal& who) { return UiViewer{who.name, who.app_scope}; }

void SendStatus(httplib::Response& res, const Principal& who, const Status& s) {
  UiViewer viewer = Viewer(who);
  SendPage(res, s.HttpStatus(), RenderUiError(&viewer, s.HttpStatus(), s.message()));
}

using UiHandler = std::function<void(const httplib::Request&, httplib::Response&, const Principal&)>;
using UiAppHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const Principal&, const std::string& app)>;

}  // namespace

void RegisterUiRoutes(ApiContext& ctx) {
  httplib::Server& http = ctx.http;
  auto ui = std::make_shared<UiState>(ctx.options.ui.max_sessions, ctx.options.ui.session_ttl);
  UiSources from{ctx.options, ctx.deployer, ctx.store};

  // A page for a logged-in viewer; without a session, the login page.
  auto page = [&ctx, ui](UiHandler handler) {
    return [&ctx, ui, handler](const httplib::Request& req, httplib::Response& res) {
      Principal who;
      if (!SessionPrincipal(ctx, *ui, req, &who)) return Redirect(res, "/ui/login");
      handler(req, res, who);
    };
  };
  // A page of one app: the name must be valid and the viewer's token allowed to see it.
  auto app_page = [page](UiAppHandler handler) {
    return page([handler](const httplib::Request& req, httplib::Response& res, const Principal& who) {
      std::string app = req.matches[1];
      if (Status s = ValidateAppName(app); !s.ok()) return SendStatus(res, who, s);
      if (Status s = who.CanAccess(app); !s.ok()) return SendStatus(res, who, s);
      handler(req, res, who, app);
    });
  };

  http.Get("/ui", [](const httplib::Request&, httplib::Response& res) { Redirect(res, "/ui/"); });

  http.Get("/ui/assets/ui.css", [](const httplib::Request&, httplib::Response& res) {
    SecurityHeaders(res);
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(UiStylesheet()), "text/css; charset=utf-8");
  });
  http.Get("/ui/assets/logs.js", [](const httplib::Request&, httplib::Response& res) {
    SecurityHeaders(res);
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(UiLogsScript()), "text/javascript; charset=utf-8");
  });

  http.Get("/ui/login", [&ctx, ui](const httplib::Request& req, httplib::Response& res) {
    Principal who;
    if (SessionPrincipal(ctx, *ui, req, &who)) return Redirect(res, "/ui/");
    SendPage(res, 200, RenderUiLogin(""));
  });

  http.Post("/ui/login", [&ctx, ui](const httplib::Request& req, httplib::Response& res) {
    if (!SameOrigin(ctx, req))
      return SendPage(res, 403, RenderUiLogin("This sign-in did not come from bim's own page; open /ui/login and try again."));
    std::string token = req.get_param_value("token");
    if (token.empty()) {  // the form's body, if the library did not parse it into params
      httplib::Params form;
      httplib::detail::parse_query_text(req.body, form);
      if (auto it = form.find("token"); it != form.end()) token = it->second;
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r')) token.pop_back();
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    Principal who;
    Status s = ctx.auth.Check("Bearer " + token, &who.name, &who.app_scope, &who.read_secrets);
    if (!s.ok()) {
      std::fprintf(stderr, "bimd: refused a dashboard sign-in: %s\n", s.message().c_str());
      return SendPage(res, 401, RenderUiLogin("That token is not valid (or was revoked). Check it and paste it again."));
    }
    std::string id = ui->sessions.Create(token, NowMillis());
    Audit(ctx.store, who, "ui.login", who.app_scope, Status::OK(), "");
    std::string cookie = std::string(kCookie) + "=" + id + "; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=" +
                         std::to_string(ctx.options.ui.session_ttl.count() / 1000);
    if (Tls(ctx)) cookie += "; Secure";
    res.set_header("Set-Cookie", cookie);
    Redirect(res, "/ui/");
  });

  http.Post("/ui/logout", [&ctx, ui](const httplib::Request& req, httplib::Response& res) {
    if (!SameOrigin(ctx, req)) return SendPage(res, 403, RenderUiError(nullptr, 403, "This sign-out did not come from bim's own page."));
    ui->sessions.Remove(CookieValue(req, kCookie));
    res.set_header("Set-Cookie", std::string(kCookie) + "=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    Redirect(res, "/ui/login");
  });

  http.Get("/ui/", page([from](const httplib::Request&, httplib::Response& res, const Principal& who) {
    json apps;
    if (Status s = UiAppsData(from, who.app_scope, &apps); !s.ok()) return SendStatus(res, who, s);
    SendPage(res, 200, RenderUiApps(Viewer(who), apps, NowMillis()));
  }));

  http.Get("/ui/server", page([&ctx, from](const httplib::Request&, httplib::Response& res, const Principal& who) {
    json data = UiServerData(from, ServerJson(ctx, who), who.app_scope);
    SendPage(res, 200, RenderUiServer(Viewer(who), data, NowMillis()));
  }));

  http.Get(R"(/ui/apps/([^/]+))", app_page([from](const httplib::Request&, httplib::Response& res, const Principal& who,
                                                  const std::string& app) {
    json data;
    if (Status s = UiAppData(from, app, &data); !s.ok()) return SendStatus(res, who, s);
    SendPage(res, 200, RenderUiApp(Viewer(who), data, NowMillis()));
  }));

  // The live-logs page: the newest lines now (so it is useful without script), then logs.js follows.
  http.Get(R"(/ui/apps/([^/]+)/logs)", app_page([&ctx](const httplib::Request&, httplib::Response& res,
                                                         const Principal& who, const std::string& app) {
    App a;
    if (Status s = ctx.store.GetApp(app, &a); !s.ok()) return SendStatus(res, who, s);
    json lines = json::array();
    ctx.deployer.Logs(app, "", ctx.options.ui.log_tail, false, [&](std::string_view l) { lines.push_back(std::string(l)); },
                      nullptr);
    std::string stream = "/ui/apps/" + engine::QueryEscape(app) + "/logs/events";
    SendPage(res, 200, RenderUiLogs(Viewer(who), app, lines, stream));
  }));

  // Server-sent events: the newest lines, then new ones as they come, as {"line": ...} objects (the
  // same objects as GET /v1/apps/{app}/logs). Bounded: at most ui.max_log_streams at once (each holds
  // an API thread), each at most ui.log_stream_max long; the browser's EventSource then reconnects.
  http.Get(R"(/ui/apps/([^/]+)/logs/events)", [&ctx, ui](const httplib::Request& req, httplib::Response& res) {
    Principal who;
    std::string app = req.matches[1];
    Status s = SessionPrincipal(ctx, *ui, req, &who) ? Status::OK() : Status::Unauthenticated("sign in again at /ui/login");
    if (s.ok()) s = ValidateAppName(app);
    if (s.ok()) s = who.CanAccess(app);
    App a;
    if (s.ok()) s = ctx.store.GetApp(app, &a);
    if (s.ok() && ui->log_streams.fetch_add(1) >= ctx.options.ui.max_log_streams) {
      ui->log_streams.fetch_sub(1);
      s = Status::Unavailable("too many live-log pages are open on this bimd; close one and reload");
    }
    if (!s.ok()) {
      SecurityHeaders(res);
      return SendError(res, s);
    }
    SecurityHeaders(res);
    const auto heartbeat = ctx.options.stream_heartbeat;
    const long long deadline = MonotonicMillis() + ctx.options.ui.log_stream_max.count();
    const int tail = ctx.options.ui.log_tail;
    Deployer& deployer = ctx.deployer;
    res.set_chunked_content_provider(
        "text/event-stream",
        [&deployer, app, tail, heartbeat, deadline](size_t, httplib::DataSink& sink) {
          std::string retry = "retry: 2000\n\n";
          sink.write(retry.data(), retry.size());
          NdjsonStream out(sink, heartbeat, NdjsonStream::Framing::kServerSentEvents);
          bool expired = false;
          Status s = deployer.Logs(
              app, "", tail, true, [&](std::string_view line) { out.Write(json{{"line", std::string(line)}}); },
              [&] { return out.Gone() || (expired = MonotonicMillis() >= deadline); });
          if (!expired) {  // an expired stream ends without a result, so the browser reconnects
            json result{{"event", "result"}, {"ok", s.ok()}};
            if (!s.ok()) result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
            out.Write(result);
          }
          sink.done();
          return true;
        },
        [ui](bool) { ui->log_streams.fetch_sub(1); });
  });
}

}  // namespace bim
