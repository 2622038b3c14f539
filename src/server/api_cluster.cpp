// Routes for running on several hosts: the nodes apps run on, and scaling an app.
#include "core/placement.h"
#include "server/api_context.h"

namespace bim {

using nlohmann::json;

void KeepScopedTasks(json* nodes, const std::string& app_scope) {
  if (app_scope.empty()) return;
  for (json& node : (*nodes)["nodes"]) {
    json mine = json::array();
    for (const json& task : node["tasks"])
      if (task.value("app", "") == app_scope) mine.push_back(task);
    node["tasks"] = mine;
  }
}

void RegisterClusterRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Deployer& deployer = ctx.deployer;

  // Every host, its state and bim's instances on it. A token scoped to one app sees the hosts with
  // only that app's instances.
  http.Get("/v1/nodes", ctx.Authed([&](const HttpRequest&, HttpResponse& res, const Principal& who) {
    json out;
    Status s = deployer.Nodes(&out);
    if (!s.ok()) return SendError(res, s);
    KeepScopedTasks(&out, who.app_scope);
    SendJson(res, out);
  }));

  http.Post(R"(/v1/apps/([^/]+)/scale)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                        const Principal& who, const std::string& app) {
    json body;
    if (Status s = ParseJsonBody(req, &body); !s.ok()) return SendError(res, s);
    if (!body.contains("replicas") || !body["replicas"].is_number_integer())
      return SendError(res, Status::InvalidArgument("\"replicas\" must be a whole number of instances, 1-100"));
    long long replicas = body["replicas"].get<long long>();
    if (Status s = ValidateReplicas(static_cast<long>(replicas)); !s.ok()) return SendError(res, s);
    bool wait = !body.contains("wait") || body["wait"] != false;
    std::string actor = who.name;
    int count = static_cast<int>(replicas);
    ctx.StreamRelease(res, [&deployer, app, count, actor, wait](const EventSink& events, const CancelCheck& cancelled,
                                                             DeployOutcome* out) {
      return deployer.Scale(app, count, actor, wait, events, cancelled, out);
    });
  }), RouteOptions::Stream(kReleaseStreams));
}

}  // namespace bim
