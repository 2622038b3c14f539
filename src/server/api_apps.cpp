// Routes for apps: list, status, releases, logs, destroy, deploy, cancel.
#include "core/deploy_plan.h"
#include "server/api_context.h"
#include "server/api_requests.h"

namespace bim {

using nlohmann::json;

void RegisterAppRoutes(ApiContext& ctx) {
  httplib::Server& http = ctx.http;
  Deployer& deployer = ctx.deployer;
  Store& store = ctx.store;
  const ServerOptions& options = ctx.options;

  http.Get("/v1/server", ctx.Authed([&](const httplib::Request&, httplib::Response& res, const Principal& who) {
    std::string instance;
    store.GetMeta("instance_id", &instance);
    SendJson(res, json{{"service", "bimd"},
                       {"instance", instance},
                       {"token", who.name},
                       {"domain", options.domain},
                       {"http_listen", options.http_listen},
                       {"app_url_pattern", deployer.AppUrl("<app>")}});
  }));

  http.Get("/v1/apps", ctx.Authed([&](const httplib::Request&, httplib::Response& res, const Principal& who) {
    std::vector<App> apps;
    Status s = store.ListApps(&apps);
    if (!s.ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& app : apps) {
      if (!who.CanAccess(app.name).ok()) continue;
      json j{{"app", app.name}, {"url", deployer.AppUrl(app.name)}, {"live", nullptr}, {"status", "not deployed"}};
      std::vector<Release> recent;
      store.ListReleases(app.name, 1, &recent);
      if (app.live_version > 0) {
        j["live"] = ReleaseName(app.live_version);
        j["status"] = "live";
      }
      if (!recent.empty()) {
        j["latest"] = ReleaseName(recent[0].version);
        j["latest_status"] = recent[0].status;
        j["updated_at_ms"] = recent[0].created_at_ms;
      }
      list.push_back(j);
    }
    SendJson(res, json{{"apps", list}});
  }));

  http.Get(R"(/v1/apps/([^/]+))", ctx.ForApp([&](const httplib::Request&, httplib::Response& res, const Principal&,
                                                 const std::string& app) {
    json out;
    Status s = deployer.DescribeApp(app, &out);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, out);
  }));

  http.Get(R"(/v1/apps/([^/]+)/releases)", ctx.ForApp([&](const httplib::Request& req, httplib::Response& res,
                                                           const Principal&, const std::string& app) {
    int limit = req.has_param("limit") ? std::atoi(req.get_param_value("limit").c_str()) : 0;
    App a;
    Status s = store.GetApp(app, &a);
    if (!s.ok()) return SendError(res, s);
    std::vector<Release> releases;
    if (!(s = store.ListReleases(app, limit, &releases)).ok()) return SendError(res, s);
    json list = json::array();
    for (const auto& r : releases) list.push_back(ReleaseJson(r));
    SendJson(res, json{{"app", app}, {"releases", list}});
  }));

  http.Get(R"(/v1/apps/([^/]+)/logs)", ctx.ForApp([&](const httplib::Request& req, httplib::Response& res,
                                                       const Principal&, const std::string& app) {
    int tail = req.has_param("tail") ? std::atoi(req.get_param_value("tail").c_str()) : 100;
    bool follow = req.get_param_value("follow") == "1";
    App a;
    if (Status s = store.GetApp(app, &a); !s.ok()) return SendError(res, s);
    res.set_chunked_content_provider("application/x-ndjson", [&deployer, app, tail, follow](size_t, httplib::DataSink& sink) {
      NdjsonStream out(sink);
      Status s = deployer.Logs(
          app, tail, follow, [&](std::string_view line) { out.Write(json{{"line", std::string(line)}}); },
          [&] { return out.Gone(); });
      json result{{"event", "result"}, {"ok", s.ok()}};
      if (!s.ok()) result["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
      out.Write(result);
      sink.done();
      return true;
    });
  }));

  http.Delete(R"(/v1/apps/([^/]+))", ctx.ForApp([&](const httplib::Request&, httplib::Response& res,
                                                    const Principal& who, const std::string& app) {
    json removed;
    Status s = deployer.Destroy(app, who.name, &removed);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, removed);
  }));

  // Stops the app's release in progress (and those queued behind it); an unscoped token only.
  http.Post(R"(/v1/apps/([^/]+)/cancel)", ctx.ForApp([&](const httplib::Request&, httplib::Response& res,
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

  http.Post(R"(/v1/apps/([^/]+)/deploy)",
            ctx.Authed([&](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                           const Principal& who) {
              if (Status s = who.CanAccess(req.matches[1]); !s.ok()) return SendError(res, s);
              auto request = std::make_shared<DeployRequest>();
              Status s = ReadDeployUpload(options, req.matches[1], req, reader, request.get());
              if (!s.ok()) return SendError(res, s);
              request->actor = who.name;
              StreamRelease(res, [&deployer, request](const EventSink& events, const CancelCheck& cancelled,
                                                      DeployOutcome* out) {
                return deployer.Deploy(*request, events, cancelled, out);
              });
            }));
}

}  // namespace bim
