#include "server/ui_data.h"

#include <map>

#include "core/deploy_plan.h"
#include "server/api_context.h"

namespace bim {

using nlohmann::json;

Status UiAppsData(const UiSources& from, const std::string& scope, json* out) {
  std::vector<AppSummary> apps;
  if (Status s = from.store.ListAppSummaries(&apps); !s.ok()) return s;
  json list = json::array();
  int described = 0;
  for (const auto& summary : apps) {
    const App& app = summary.app;
    if (!scope.empty() && scope != app.name) continue;
    json a{{"app", app.name},
           {"url", from.deployer.AppUrl(app.name)},
           {"live", app.live_version > 0 ? json(ReleaseName(app.live_version)) : json()},
           {"state", app.live_version > 0 ? "live" : "not deployed"},
           {"restarts", ""}};
    if (summary.latest_version > 0) {
      a["latest"] = ReleaseName(summary.latest_version);
      a["latest_status"] = summary.latest_status;
      a["updated_at_ms"] = summary.latest_created_at_ms;
    }
    // The container's state and restarts cost a call to the engine per app: the first ones only.
    if (described++ < from.options.ui.max_apps_described) {
      json status;
      if (from.deployer.DescribeApp(app.name, &status).ok()) {
        a["url"] = status.value("url", a["url"].get<std::string>());
        a["state"] = status.value("state", "");
        if (status.contains("container") && status["container"].is_object())
          a["restarts"] = status["container"].value("restarts", 0);
        if (status.contains("latest") && status["latest"].is_object())
          a["failure_reason"] = status["latest"].value("failure_reason", "");
      }
    }
    list.push_back(a);
  }
  *out = list;
  return Status::OK();
}

Status UiAppData(const UiSources& from, const std::string& app, json* out) {
  json status;
  if (Status s = from.deployer.DescribeApp(app, &status); !s.ok()) return s;
  std::vector<Release> releases;
  if (Status s = from.store.ListReleases(app, from.options.ui.releases_shown, &releases); !s.ok()) return s;
  std::vector<AuditEntry> audit;
  from.store.ListAudit(app, 1000, &audit);
  // Who made each release: its audit entry (action = the release's kind, detail starting with "vN").
  std::map<std::string, std::string> actors;
  for (const auto& e : audit) {
    std::string release = e.detail.substr(0, e.detail.find(' '));
    if (!release.empty() && release[0] == 'v' && !actors.count(release)) actors[release] = e.actor;
  }
  json list = json::array();
  for (const auto& r : releases) {
    json j = ReleaseJson(r);
    if (auto it = actors.find(ReleaseName(r.version)); it != actors.end()) j["actor"] = it->second;
    list.push_back(j);
  }
  json keys = json::array();
  EnvList env;
  if (from.deployer.EffectiveEnv(app, &env).ok())
    for (const auto& var : env) keys.push_back(var.key);  // names only, never values
  json entries = json::array();
  for (size_t i = 0; i < audit.size() && static_cast<int>(i) < from.options.ui.audit_shown; ++i)
    entries.push_back(AuditJson(audit[i]));
  *out = json{{"status", status}, {"releases", list}, {"env_keys", keys}, {"audit", entries}};
  return Status::OK();
}

json UiServerData(const UiSources& from, const json& server_info, const std::string& scope) {
  json nodes;
  Status s = from.deployer.Nodes(&nodes);
  if (!s.ok())
    nodes = json{{"error", s.message()}};
  else
    KeepScopedTasks(&nodes, scope);
  return json{{"info", server_info}, {"state", from.deployer.ServerState()}, {"nodes", nodes}};
}

}  // namespace bim
