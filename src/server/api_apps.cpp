// Routes for apps: list, status, releases, logs, destroy, deploy, cancel.
#include <unistd.h>

#include <cstdio>

#include "core/deploy_plan.h"
#include "core/validate.h"
#include "server/api_context.h"
#include "server/api_requests.h"

namespace bim {

using nlohmann::json;

namespace {

// Appends ,"key":"value" (no comma when `first`) with the value escaped as a JSON string.
void AppendJsonField(std::string* out, const char* key, std::string_view value, bool first = false) {
  static const char kHex[] = "0123456789abcdef";
  if (!first) *out += ',';
  *out += '"';
  *out += key;
  *out += "\":\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += static_cast<char>(c);
    } else if (c < 0x20) {
      *out += "\\u00";
      *out += kHex[c >> 4];
      *out += kHex[c & 15];
    } else {
      *out += static_cast<char>(c);
    }
  }
  *out += '"';
}

// With --api-domain: which certificate the API serves and the state of getting its own (the CA's
// reason when the last attempt failed), for `bim server`.
json ApiCertificateJson(const ApiContext& ctx) {
  json j{{"domain", ctx.options.certs.api_domain}, {"serving", ctx.api_tls->serving()}, {"state", cert_state::kPending}};
  Certificate c;
  if (ctx.certs && ctx.certs->ApiCertificate(&c).ok()) {
    j["state"] = c.state;
    j["error"] = c.error;
    j["not_after_ms"] = c.not_after_ms;
    j["next_attempt_ms"] = c.next_attempt_ms;
  }
  return j;
}

}  // namespace

json ServerJson(const ApiContext& ctx, const Principal& who) {
  std::string instance;
  ctx.store.GetMeta("instance_id", &instance);
  json body{{"service", "bimd"},
            {"instance", instance},
            {"token", who.name},
            {"domain", ctx.options.domain},
            {"http_listen", ctx.options.nginx.listen},
            {"engine", ctx.options.engine},
            {"registry", ctx.options.registry_listen},
            {"app_url_pattern", ctx.deployer.AppUrl("<app>")}};
  if (ctx.api_tls) body["api_certificate"] = ApiCertificateJson(ctx);
  return body;
}

void RegisterAppRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Deployer& deployer = ctx.deployer;
  Store& store = ctx.store;
  const ServerOptions& options = ctx.options;

  http.Get("/v1/server", ctx.Authed([&](const HttpRequest&, HttpResponse& res, const Principal& who) {
    json out = ServerJson(ctx, who);
    if (who.IsAdmin()) {  // the API's own load, for operators
      HttpServer::Stats stats = http.GetStats();
      out["api"] = {{"connections", stats.connections},
                    {"streams", stats.streams},
                    {"evicted_connections", stats.evicted},
                    {"refused_connections", stats.refused},
                    {"header_timeouts", stats.header_timeouts}};
    }
    SendJson(res, out);
  }));

  http.Get("/v1/apps", ctx.Authed([&](const HttpRequest&, HttpResponse& res, const Principal& who) {
    std::vector<AppSummary> apps;
    Status s = store.ListAppSummaries(&apps);
    if (!s.ok()) return SendError(res, s);
    // Written by hand rather than as a JSON document: at 10,000 apps a document is ~20 MB of small
    // allocations per request (which the allocator then keeps per thread) and most of the request's time.
    std::string body = "{\"apps\":[";
    body.reserve(apps.size() * 160 + 16);
    bool first = true;
    for (const auto& summary : apps) {
      const App& app = summary.app;
      if (!who.IsAdmin() && who.app_scope != app.name) continue;  // a scoped token sees its app only
      body += first ? "{" : ",{";
      first = false;
      AppendJsonField(&body, "app", app.name, true);
      AppendJsonField(&body, "url", deployer.AppUrl(app.name));
      if (app.live_version > 0) {
        AppendJsonField(&body, "live", ReleaseName(app.live_version));
        AppendJsonField(&body, "status", "live");
      } else {
        body += ",\"live\":null";
        AppendJsonField(&body, "status", "not deployed");
      }
      if (summary.latest_version > 0) {
        AppendJsonField(&body, "latest", ReleaseName(summary.latest_version));
        AppendJsonField(&body, "latest_status", summary.latest_status);
        body += ",\"updated_at_ms\":" + std::to_string(summary.latest_created_at_ms);
      }
      body += '}';
    }
    body += "]}\n";
    res.status = 200;
    res.SetContent(std::move(body), "application/json");
  }));

  http.Get(R"(/v1/apps/([^/]+))", ctx.ForApp([&](const HttpRequest&, HttpResponse& res, const Principal&,
                                                 const std::string& app) {
    json out;
    Status s = deployer.DescribeApp(app, &out);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, out);
  }));

  http.Get(R"(/v1/apps/([^/]+)/releases)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                           const Principal&, const std::string& app) {
    int64_t limit = 0;
    Status s = QueryCount(req, "limit", 0, kMaxListLimit, &limit);
    if (!s.ok()) return SendError(res, s);
    App a;
    if (!(s = store.GetApp(app, &a)).ok()) return SendError(res, s);
    std::vector<Release> releases;
    if (!(s = store.ListReleases(app, static_cast<int>(limit), &releases)).ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& r : releases) {
      list.push_back(ReleaseJson(r));
      if (Watch w; store.GetWatch(r.id, &w).ok()) list.back()["watch"] = WatchJson(w);
    }
    SendJson(res, json{{"app", app}, {"releases", list}});
  }));

  http.Get(R"(/v1/apps/([^/]+)/logs)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                       const Principal&, const std::string& app) {
    int64_t tail = kDefaultLogTail;
    if (Status s = QueryCount(req, "tail", 0, kMaxLogTail, &tail); !s.ok()) return SendError(res, s);
    bool follow = req.Param("follow") == "1";
    std::string service = req.Param("service");
    if (!service.empty())
      if (Status s = ValidateServiceName(service); !s.ok()) return SendError(res, s);
    App a;
    if (Status s = store.GetApp(app, &a); !s.ok()) return SendError(res, s);
    res.BeginStream("application/x-ndjson");
    NdjsonStream out(res, options.stream_heartbeat);
    Status s = deployer.Logs(
        app, service, static_cast<int>(tail), follow,
        [&](std::string_view line) { out.Write(json{{"line", std::string(line)}}); }, [&] { return out.Gone(); });
    json result{{"event", "result"}, {"ok", s.ok()}};
    if (!s.ok()) result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
    out.Write(result);
  }), RouteOptions::Stream(kLogStreams));

  http.Delete(R"(/v1/apps/([^/]+))", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                    const Principal& who, const std::string& app) {
    json removed;
    Status s = deployer.Destroy(app, who.name, req.Param("volumes") == "1", &removed);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, removed);
  }));

  // Stops the app's release in progress (and those queued behind it); an unscoped token only.
  http.Post(R"(/v1/apps/([^/]+)/cancel)", ctx.ForApp([&](const HttpRequest&, HttpResponse& res,
                                                         const Principal& who, const std::string& app) {
    if (!who.IsAdmin())
      return SendError(res, Status::PermissionDenied("token \"" + who.name +
                                                     "\" is limited to one app; cancelling a release needs an unscoped token"));
    std::string what;
    Status s = deployer.Cancel(app, "cancelled by " + who.name + " (bim cancel)", &what);
    AuditEntry audit{0, 0, who.name, "cancel", app, s.ok() ? "ok" : s.message(), what};
    store.AppendAudit(&audit);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, json{{"app", app}, {"cancelled", what}});
  }));

  // The one route that takes a large (or chunked) body: the build context (or the contents a
  // manifest lacks, or an image archive) streams to disk under max_upload_bytes while the handler
  // reads it, on the release's own stream thread.
  RouteOptions upload_route;
  upload_route.max_body_bytes = DeployBodyLimit(options);
  upload_route.body_limit_message = UploadTooLargeMessage(options);
  upload_route.chunked_body = true;
  upload_route.streamed_body = true;
  upload_route.stream = kReleaseStreams;
  http.Post(R"(/v1/apps/([^/]+)/deploy)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                         const Principal& who, const std::string& app) {
    auto request = std::make_shared<DeployRequest>();
    // A deploy refused before its release exists leaves no record but this log line.
    auto refuse = [&](const Status& why) {
      std::fprintf(stderr, "bimd: deploy of %s refused (no release recorded): %s\n", app.c_str(),
                   why.message().c_str());
      SendError(res, why);
    };
    DeployUpload upload;
    Status s = ReadDeployUpload(options, app, req, request.get(), &upload);
    if (!s.ok()) return refuse(s);
    if (!(s = ResolveDeploySource(ctx, app, &upload, request.get())).ok()) {
      if (!request->context_path.empty()) unlink(request->context_path.c_str());
      return refuse(s);
    }
    request->actor = who.name;
    ctx.StreamRelease(res, [&deployer, request](const EventSink& events, const CancelCheck& cancelled,
                                                DeployOutcome* out) {
      return deployer.Deploy(*request, events, cancelled, out);
    });
  }), upload_route);
}

}  // namespace bim
