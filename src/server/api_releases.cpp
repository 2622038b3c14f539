// Routes for releases that reuse an image: rollback and env changes, and reading the env.
#include <algorithm>

#include "core/deploy_plan.h"
#include "core/validate.h"
#include "server/api_context.h"
#include "server/api_requests.h"

namespace bim {

using nlohmann::json;

namespace {

// Env values are shown only when asked for; otherwise a fixed mask, so length leaks nothing.
json EnvJson(const EnvList& env, bool reveal) {
  json list = json::array();
  for (const auto& var : env) list.push_back({{"key", var.key}, {"value", reveal ? var.value : "••••"}});
  return list;
}

}  // namespace

void RegisterReleaseRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Deployer& deployer = ctx.deployer;

  http.Post(R"(/v1/apps/([^/]+)/rollback)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                           const Principal& who, const std::string& app) {
    json body = json::object();
    if (!req.body.empty())
      if (Status s = ParseJsonBody(req, &body); !s.ok()) return SendError(res, s);
    int64_t to = 0;
    if (body.contains("to") && !body["to"].is_null()) {
      if (!body["to"].is_string()) return SendError(res, Status::InvalidArgument("\"to\" must be a release like \"v3\""));
      if (Status s = ParseReleaseName(body["to"].get<std::string>(), &to); !s.ok()) return SendError(res, s);
    }
    bool wait = !body.contains("wait") || body["wait"] != false;
    std::string actor = who.name;
    ctx.StreamRelease(res, [&deployer, app, to, actor, wait](const EventSink& events, const CancelCheck& cancelled,
                                                          DeployOutcome* out) {
      return deployer.Rollback(app, to, actor, wait, events, cancelled, out);
    });
  }), RouteOptions::Stream(kReleaseStreams));

  http.Get(R"(/v1/apps/([^/]+)/env)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                     const Principal& who, const std::string& app) {
    bool reveal = req.Param("reveal") == "1";
    // Values only for a token allowed to read secrets, and every reveal (or attempt) is on the record.
    EnvList env;
    Status s = reveal && !who.read_secrets
                   ? Status::PermissionDenied("token \"" + who.name + "\" may not read env values (ask an admin for a "
                                              "token made with `bim token create --read-secrets`)")
                   : deployer.EffectiveEnv(app, &env);
    if (reveal) {
      AuditEntry audit{0, 0, who.name, "env.reveal", app, s.ok() ? "ok" : s.message(),
                       std::to_string(env.size()) + " values"};
      ctx.store.AppendAudit(&audit);
    }
    if (!s.ok()) return SendError(res, s);
    SendJson(res, json{{"app", app}, {"revealed", reveal}, {"env", EnvJson(env, reveal)}});
  }));

  http.Post(R"(/v1/apps/([^/]+)/env)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                      const Principal& who, const std::string& app) {
    json body;
    if (Status s = ParseJsonBody(req, &body); !s.ok()) return SendError(res, s);
    EnvList set;
    std::vector<std::string> unset;
    if (body.contains("set"))
      if (Status s = ParseEnvEntries(body["set"], "set", &set); !s.ok()) return SendError(res, s);
    if (body.contains("unset")) {
      if (!body["unset"].is_array()) return SendError(res, Status::InvalidArgument("\"unset\" must be a list of keys"));
      for (const auto& key : body["unset"]) {
        if (!key.is_string()) return SendError(res, Status::InvalidArgument("\"unset\" must be a list of keys"));
        if (Status s = ValidateEnvKey(key.get<std::string>()); !s.ok()) return SendError(res, s);
        unset.push_back(key);
      }
    }
    if (set.empty() && unset.empty())
      return SendError(res, Status::InvalidArgument("nothing to change: give KEY=VALUE pairs to set or KEYs to unset"));
    bool wait = !body.contains("wait") || body["wait"] != false;
    std::string actor = who.name;
    ctx.StreamRelease(res, [&deployer, app, set, unset, actor, wait](const EventSink& events, const CancelCheck& cancelled,
                                                                  DeployOutcome* out) {
      return deployer.ChangeEnv(app, set, unset, actor, wait, events, cancelled, out);
    });
  }), RouteOptions::Stream(kReleaseStreams));
}

}  // namespace bim
