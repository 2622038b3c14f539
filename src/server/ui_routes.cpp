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
#include <any>
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

void SecurityHeaders(HttpResponse& res, const char* cache = "no-store") {
  res.SetHeader("Content-Security-Policy", kPolicy);
  res.SetHeader("X-Content-Type-Options", "nosniff");
  res.SetHeader("X-Frame-Options", "DENY");
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts.
  res.SetHeader("Referrer-Policy", "same-origin");
  res.SetHeader("Cache-Control", cache);
}

void SendPage(HttpResponse& res, int status, const std::string& html) {
  SecurityHeaders(res);
  res.status = status;
  res.SetContent(html, "text/html; charset=utf-8");
}

void Redirect(HttpResponse& res, const std::string& to) {
  SecurityHeaders(res);
  res.status = 303;
  res.SetHeader("Location", to);
}

std::string CookieValue(const HttpRequest& req, const std::string& name) {
  std::string header = req.Header("Cookie");
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
bool SameOrigin(const ApiContext& ctx, const HttpRequest& req) {
  std::string origin = req.Header("Origin");
  std::string host = req.Header("Host");
  if (!origin.empty()) return !host.empty() && origin == (Tls(ctx) ? "https://" : "http://") + host;
  return req.Header("Sec-Fetch-Site") == "same-origin";
}

// The viewer of a request with a live session whose token still passes; false otherwise.
bool SessionPrincipal(const ApiContext& ctx, UiState& ui, const HttpRequest& req, Principal* who) {
  std::string token;
  if (!ui.sessions.Lookup(CookieValue(req, kCookie), NowMillis(), &token)) return false;
  if (!ctx.auth.Check("Bearer " + token, &who->name, &who->app_scope, &who->read_secrets).ok()) {
    ui.sessions.Remove(CookieValue(req, kCookie));
    return false;
  }
  return true;
}

UiViewer Viewer(const Principal& who) { return UiViewer{who.name, who.app_scope}; }

void SendStatus(HttpResponse& res, const Principal& who, const Status& s) {
  UiViewer viewer = Viewer(who);
  SendPage(res, s.HttpStatus(), RenderUiError(&viewer, s.HttpStatus(), s.message()));
}

// The admit hook of every dashboard route (on the HTTP layer's I/O thread, before any body is read;
// a lookup and a token check, like a bearer token's): a request with a live session counts against
// its token's caps (an admin's goes first, as on the API); one without stays anonymous. It never
// refuses: the handler answers a missing session (the login page, or 401 on the event stream).
HttpAdmit SessionAdmit(const ApiContext& ctx, std::shared_ptr<UiState> ui) {
  return [&ctx, ui](HttpRequest& req) {
    Principal who;
    if (SessionPrincipal(ctx, *ui, req, &who)) {
      req.client = who.name;
      req.privileged = who.IsAdmin();
      req.identity = who;
    }
    return Status::OK();
  };
}

// The session's viewer set by SessionAdmit; false without one.
bool SessionViewer(const HttpRequest& req, Principal* who) {
  if (const Principal* p = std::any_cast<Principal>(&req.identity)) {
    *who = *p;
    return true;
  }
  return false;
}

using UiHandler = std::function<void(const HttpRequest&, HttpResponse&, const Principal&)>;
using UiAppHandler = std::function<void(const HttpRequest&, HttpResponse&, const Principal&, const std::string& app)>;

// Dashboard live-log streams, a stream class of the HTTP layer (own thread each, never a worker).
const std::string kUiLogStreams = "dashboard log streams";

}  // namespace

void RegisterUiRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  auto ui = std::make_shared<UiState>(ctx.options.ui.max_sessions, ctx.options.ui.session_ttl);
  UiSources from{ctx.options, ctx.deployer, ctx.store};
  // A route of the dashboard: its session (if any) is found before the body is read.
  auto route = [admit = SessionAdmit(ctx, ui)](HttpHandler handler) { return HttpRoute{admit, std::move(handler)}; };

  // A page for a logged-in viewer; without a session, the login page.
  auto page = [route](UiHandler handler) {
    return route([handler](const HttpRequest& req, HttpResponse& res) {
      Principal who;
      if (!SessionViewer(req, &who)) return Redirect(res, "/ui/login");
      handler(req, res, who);
    });
  };
  // A page of one app: the name must be valid and the viewer's token allowed to see it.
  auto app_page = [page](UiAppHandler handler) {
    return page([handler](const HttpRequest& req, HttpResponse& res, const Principal& who) {
      std::string app = req.matches.at(1);
      if (Status s = ValidateAppName(app); !s.ok()) return SendStatus(res, who, s);
      if (Status s = who.CanAccess(app); !s.ok()) return SendStatus(res, who, s);
      handler(req, res, who, app);
    });
  };

  http.Get("/ui", route([](const HttpRequest&, HttpResponse& res) { Redirect(res, "/ui/"); }));

  // Static assets: revalidated (no-cache) rather than never stored.
  http.Get("/ui/assets/ui.css", route([](const HttpRequest&, HttpResponse& res) {
    SecurityHeaders(res, "no-cache");
    res.SetContent(std::string(UiStylesheet()), "text/css; charset=utf-8");
  }));
  http.Get("/ui/assets/logs.js", route([](const HttpRequest&, HttpResponse& res) {
    SecurityHeaders(res, "no-cache");
    res.SetContent(std::string(UiLogsScript()), "text/javascript; charset=utf-8");
  }));

  http.Get("/ui/login", route([](const HttpRequest& req, HttpResponse& res) {
    Principal who;
    if (SessionViewer(req, &who)) return Redirect(res, "/ui/");
    SendPage(res, 200, RenderUiLogin(""));
  }));

  // The form's body is small and bounded like every other body (max_body_bytes, Content-Length).
  http.Post("/ui/login", route([&ctx, ui](const HttpRequest& req, HttpResponse& res) {
    if (!SameOrigin(ctx, req))
      return SendPage(res, 403, RenderUiLogin("This sign-in did not come from bim's own page; open /ui/login and try again."));
    std::string token = req.Param("token");
    if (token.empty()) {  // the form's body (application/x-www-form-urlencoded)
      std::vector<std::pair<std::string, std::string>> form;
      ParseQuery(req.body, &form);
      for (const auto& [k, v] : form)
        if (k == "token") {
          token = v;
          break;
        }
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
    res.SetHeader("Set-Cookie", cookie);
    Redirect(res, "/ui/");
  }));

  http.Post("/ui/logout", route([&ctx, ui](const HttpRequest& req, HttpResponse& res) {
    if (!SameOrigin(ctx, req)) return SendPage(res, 403, RenderUiError(nullptr, 403, "This sign-out did not come from bim's own page."));
    ui->sessions.Remove(CookieValue(req, kCookie));
    res.SetHeader("Set-Cookie", std::string(kCookie) + "=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    Redirect(res, "/ui/login");
  }));

  http.Get("/ui/", page([from](const HttpRequest&, HttpResponse& res, const Principal& who) {
    json apps;
    if (Status s = UiAppsData(from, who.app_scope, &apps); !s.ok()) return SendStatus(res, who, s);
    SendPage(res, 200, RenderUiApps(Viewer(who), apps, NowMillis()));
  }));

  http.Get("/ui/server", page([&ctx, from](const HttpRequest&, HttpResponse& res, const Principal& who) {
    json data = UiServerData(from, ServerJson(ctx, who), who.app_scope);
    SendPage(res, 200, RenderUiServer(Viewer(who), data, NowMillis()));
  }));

  http.Get(R"(/ui/apps/([^/]+))", app_page([from](const HttpRequest&, HttpResponse& res, const Principal& who,
                                                  const std::string& app) {
    json data;
    if (Status s = UiAppData(from, app, &data); !s.ok()) return SendStatus(res, who, s);
    SendPage(res, 200, RenderUiApp(Viewer(who), data, NowMillis()));
  }));

  // The live-logs page: the newest lines now (so it is useful without script), then logs.js follows.
  http.Get(R"(/ui/apps/([^/]+)/logs)", app_page([&ctx](const HttpRequest&, HttpResponse& res,
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
  // a stream thread of the HTTP layer, never a worker), each at most ui.log_stream_max long; the
  // browser's EventSource then reconnects.
  http.Get(R"(/ui/apps/([^/]+)/logs/events)", route([&ctx, ui](const HttpRequest& req, HttpResponse& res) {
    Principal who;
    std::string app = req.matches.at(1);
    Status s = SessionViewer(req, &who) ? Status::OK() : Status::Unauthenticated("sign in again at /ui/login");
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
    struct Release {
      UiState& ui;
      ~Release() { ui.log_streams.fetch_sub(1); }
    } release{*ui};
    SecurityHeaders(res);
    const long long deadline = MonotonicMillis() + ctx.options.ui.log_stream_max.count();
    if (!res.BeginStream("text/event-stream") || !res.Write("retry: 2000\n\n")) return;
    NdjsonStream out(res, ctx.options.stream_heartbeat, NdjsonStream::Framing::kServerSentEvents);
    bool expired = false;
    s = ctx.deployer.Logs(
        app, "", ctx.options.ui.log_tail, true, [&](std::string_view line) { out.Write(json{{"line", std::string(line)}}); },
        [&] { return out.Gone() || (expired = MonotonicMillis() >= deadline); });
    if (!expired) {  // an expired stream ends without a result, so the browser reconnects
      json result{{"event", "result"}, {"ok", s.ok()}};
      if (!s.ok()) result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
      out.Write(result);
    }
  }), RouteOptions::Stream(kUiLogStreams));
}

}  // namespace bim
