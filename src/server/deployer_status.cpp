// What `bim status` and `bim logs` show: every service of the live release, its instances and logs.
#include <algorithm>
#include <thread>

#include "core/deploy_plan.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

namespace {

// One line on a service's condition ("" when it runs fine), with the fix.
std::string Trouble(const std::string& app, const std::string& service, bool several, const Instance& i, int exit_code) {
  std::string what = several ? "service " + service : "the container";
  std::string logs = "`bim logs " + app + (several ? " --service " + service : "") + "`";
  if (i.running && i.health == "unhealthy") return what + " is running but its healthcheck fails; see " + logs;
  if (i.running) return "";
  if (i.state == "restarting")
    return what + " keeps exiting (last exit code " + std::to_string(exit_code) + "); see " + logs;
  return what + " " + i.state + " with exit code " + std::to_string(exit_code) +
         " and Docker did not restart it; redeploy or roll back";
}

}  // namespace

Status Deployer::DescribeApp(const std::string& app_name, json* out) {
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  json j{{"app", app.name},
         {"url", PublicUrl(app.name, AppUrl(app.name))},
         {"port", app.port},
         {"health", {{"path", app.health_path}, {"timeout_ms", app.health_timeout_ms},
                     {"watch_ms", WatchWindow(app, "deploy").count()}}},
         {"created_at_ms", app.created_at_ms},
         {"live", nullptr},
         {"watch", nullptr},
         {"state", "not deployed"},
         {"services", json::array()}};
  json domains = DomainsJson(app.name);
  j["domains"] = domains["domains"];
  j["certificate"] = domains["certificate"];
  // A release's watch, if it had one; the one in progress with its countdown.
  auto with_watch = [&](const Release& r) {
    json rj = ReleaseJson(r);
    Watch w;
    if (store_->GetWatch(r.id, &w).ok()) {
      WatchProgress now;
      bool active = w.state == watch_state::kWatching && watch_->Progress(app.name, &now) && now.version == r.version;
      rj["watch"] = WatchJson(w, active ? &now : nullptr);
      if (active) j["watch"] = rj["watch"];
    }
    return rj;
  };
  std::vector<Release> recent;
  store_->ListReleases(app.name, 1, &recent);
  if (!recent.empty()) j["latest"] = with_watch(recent[0]);
  Release live;
  std::vector<ReleaseService> records;
  if (app.live_version > 0 && store_->GetRelease(app.name, app.live_version, &live).ok() &&
      LoadServices(app, live, &records).ok()) {
    j["live"] = with_watch(live);
    // A Compose app of several services is not watched (deployer.h): the default window does not apply.
    if (records.size() > 1) j["health"]["watch_ms"] = 0;
    bool several = records.size() > 1;
    std::string main_state, main_trouble, trouble;
    for (const ReleaseService& record : records) {
      ServiceSpec spec;
      ServiceSpecFromJson(json::parse(record.spec, nullptr, false), &spec);
      json svc{{"service", record.service}, {"workload", record.workload}, {"image", record.image_tag},
               {"image_id", record.image_id}, {"state", "missing"}, {"running", false}, {"restarts", 0},
               {"health", ""}, {"instances", json::array()}};
      if (spec.http.port)
        svc["http"] = {{"port", spec.http.port}, {"route", ServiceRouteKey(app.name, spec)},
                       {"main", spec.http.main}, {"routes", spec.http.routes}, {"domains", spec.http.domains}};
      Workload w;
      Status c = engine_->Inspect(record.workload, &w);
      if (c.ok() && w.instances.empty()) c = Status::NotFound("it has no instances");
      std::string line;
      if (c.ok()) {
        std::lock_guard<std::mutex> lock(exits_mu_);
        for (const Instance& i : w.instances) {
          json one = {{"id", i.id},           {"node", i.node},
                      {"endpoint", i.endpoint.port ? i.endpoint.ToString() : ""},
                      {"state", i.state},     {"running", i.running},
                      {"restarts", i.restarts}, {"exit_code", i.exit_code},
                      {"oom_killed", i.oom_killed}, {"started_at", i.started_at},
                      {"finished_at", i.finished_at}, {"error", i.error}, {"health", i.health}};
          if (auto e = last_exit_.find(i.id); e != last_exit_.end()) {
            one["last_exit"] = {{"code", e->second.code}, {"at_ms", e->second.at_ms}};
            // Docker resets ExitCode when it restarts the container; the last real exit is ours.
            one["exit_code"] = e->second.code;
          }
          svc["instances"].push_back(one);
        }
        const Instance& first = w.instances.front();
        int exit_code = svc["instances"][0]["exit_code"].get<int>();
        svc["state"] = first.state;
        svc["running"] = first.running;
        svc["restarts"] = first.restarts;
        svc["exit_code"] = exit_code;
        svc["health"] = first.health;
        line = Trouble(app.name, record.service, several, first, exit_code);
        if (spec.http.main || !several) {
          // "container"/"instances": the main service, as `bim status` has always shown it.
          json container = svc["instances"][0];
          container["name"] = w.name;
          j["container"] = container;
          j["instances"] = svc["instances"];
          int wanted = std::max(live.replicas, 1), running = 0;
          const Instance* bad = nullptr;
          for (const Instance& i : w.instances) {
            if (i.running) ++running;
            else if (!bad) bad = &i;
          }
          if (wanted > 1 || !first.node.empty()) {
            // Several instances (a cluster): how many of them serve, and what is wrong with the rest.
            std::string counts = std::to_string(running) + "/" + std::to_string(wanted) + " instances";
            std::string why = bad ? (bad->node.empty() ? "" : bad->node + ": ") + bad->state +
                                        (bad->error.empty() ? "" : " (" + bad->error + ")")
                                  : std::string();
            if (running >= wanted) main_state = "running (" + counts + ")";
            else if (running > 0) main_trouble = "degraded: " + counts + " running; " + why + "; the engine is replacing the rest";
            else main_trouble = "down: no instance is running; " + why + "; see `bim logs " + app.name + "`";
            if (running >= wanted) line.clear();
          } else {
            main_state = first.running ? (first.restarts > 0 ? "running (restarted " + std::to_string(first.restarts) + "x)"
                                                              : "running")
                                       : "";
            if (!line.empty()) main_trouble = (first.state == "restarting" ? "restarting: " : "down: ") + line;
          }
        }
      } else {
        line = (several ? "service " + record.service + ": its container" : "the live container") + " is missing (" +
               c.message() + "); redeploy to recover";
        if (spec.http.main || !several) main_trouble = "down: " + line;
      }
      if (!line.empty()) {
        svc["problem"] = line;
        if (trouble.empty()) trouble = line;
      }
      j["services"].push_back(svc);
    }
    if (!main_trouble.empty()) j["state"] = main_trouble;
    else if (!trouble.empty()) j["state"] = "degraded: " + trouble;
    else j["state"] = main_state.empty() ? "running" : main_state;
  }
  *out = std::move(j);
  return Status::OK();
}

Status Deployer::Logs(const std::string& app_name, const std::string& service, int tail, bool follow,
                      const LineSink& on_line, const CancelCheck& cancelled) {
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  Release r;
  if (app.live_version > 0) {
    s = store_->GetRelease(app_name, app.live_version, &r);
  } else {
    std::vector<Release> recent;
    s = store_->ListReleases(app_name, 1, &recent);
    if (s.ok() && !recent.empty()) r = recent[0];
  }
  if (!s.ok()) return s;
  std::vector<ReleaseService> records;
  if (r.id == 0 || !LoadServices(app, r, &records).ok() || records.empty() || r.container_name.empty())
    return Status::NotFound("app \"" + app_name + "\" has no running release to show logs of (deploy it first)");
  if (!service.empty()) {
    std::string names;
    for (const auto& record : records) names += (names.empty() ? "" : ", ") + record.service;
    auto it = std::find_if(records.begin(), records.end(), [&](const ReleaseService& x) { return x.service == service; });
    if (it == records.end())
      return Status::NotFound("app \"" + app_name + "\" has no service \"" + service + "\" (it has " + names + ")");
    records = {*it};
  }
  bool prefix = records.size() > 1;
  std::mutex mu;  // lines of several services reach on_line one at a time
  CancelCheck gone;  // set below when several streams share `cancelled`
  auto stream = [&](const ReleaseService& record) {
    std::string head = record.service + " | ";
    Status st = engine_->Logs(
        record.workload, tail, follow,
        [&](std::string_view line) {
          std::lock_guard<std::mutex> lock(mu);
          on_line(prefix ? head + std::string(line) : std::string(line));
        },
        gone ? gone : cancelled);
    if (st.IsNotFound())
      return Status::NotFound("the container of " + ReleaseName(r.version) + (prefix ? " service " + record.service : "") +
                              " no longer exists (its release " + r.status + ")");
    return st;
  };
  if (!follow || !prefix) {
    for (const auto& record : records)
      if (Status st = stream(record); !st.ok()) return st;
    return Status::OK();
  }
  // Following several services: one stream each, lines interleaved as they come.
  gone = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return cancelled && cancelled();
  };
  std::vector<Status> results(records.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < records.size(); ++i) threads.emplace_back([&, i] { results[i] = stream(records[i]); });
  for (auto& t : threads) t.join();
  for (const auto& st : results)
    if (!st.ok()) return st;
  return Status::OK();
}

}  // namespace bim
