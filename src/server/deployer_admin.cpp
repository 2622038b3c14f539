// Deployer operations besides the release flow: destroy, reconcile, status and logs.
#include <filesystem>
#include <map>

#include "core/deploy_plan.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

Status Deployer::Destroy(const std::string& app_name, const std::string& actor, json* removed) {
  AppLocks::Holder lock = locks_.Acquire(app_name, "destroy");
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  json containers = json::array(), images = json::array();
  // Route first, so nginx stops sending traffic before the containers go away.
  if (!(s = nginx_->RemoveRoute(app_name)).ok()) return s.Wrap("removing the route");
  Labels mine{{labels::kInstance, instance_id_}, {labels::kApp, app_name}};
  std::vector<ContainerInfo> found;
  if (!(s = docker_->ListContainers(mine, true, &found)).ok()) return s;
  for (const auto& c : found) {
    Status r = docker_->RemoveContainer(c.id, true);
    if (!r.ok() && !r.IsNotFound()) return r.Wrap("removing container " + c.name);
    containers.push_back(c.name);
  }
  std::vector<ImageInfo> imgs;
  if (!(s = docker_->ListImages(mine, &imgs)).ok()) return s;
  for (const auto& img : imgs) {
    // Remove our tags one by one (never force by id: another tag on the same image may not be ours).
    for (const auto& tag : img.tags) {
      if (!tag.starts_with("bim/" + app_name + ":")) continue;
      Status r = docker_->RemoveImage(tag, false);
      if (!r.ok() && !r.IsNotFound()) return r.Wrap("removing image " + tag);
      images.push_back(tag);
    }
  }
  if (!(s = store_->DeleteApp(app_name)).ok()) return s;
  if (observer_) observer_->OnDestroyed(app_name);
  AuditEntry audit{0, 0, actor, "destroy", app_name, "ok", ""};
  store_->AppendAudit(&audit);
  *removed = json{{"app", app_name}, {"containers", containers}, {"images", images}, {"route", true}};
  return Status::OK();
}

Status Deployer::Reconcile() {
  // 1. Routes follow the database, and are fixed before nginx reads anything: live_version only
  //    changes when a release is recorded live, so whatever step a crash interrupted, the database
  //    names the last good release of every app. Its container is still running (the previous
  //    release is retired only after the new one is recorded).
  std::vector<App> apps;
  Status s = store_->ListApps(&apps);
  if (!s.ok()) return s;
  std::vector<Route> routes;
  for (const auto& app : apps) {
    if (app.live_version == 0) continue;
    Release live;
    if (!store_->GetRelease(app.name, app.live_version, &live).ok() || live.host_port == 0) continue;
    routes.push_back({app.name, app.name + "." + options_.domain, ReleaseName(live.version), live.host_port});
  }
  if (!(s = nginx_->Start(routes)).ok()) return s.Wrap("starting nginx on " + options_.http_listen);

  // 2. Uploads a crash left behind are useless: their deploys are over.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(options_.data_dir + "/uploads", ec))
    std::filesystem::remove(e.path(), ec);

  // 3. Releases a crash interrupted can never finish: mark them failed and remove their containers.
  std::vector<Release> stuck;
  if (!(s = store_->ListReleasesWithStatus({release_status::kBuilding, release_status::kStarting}, &stuck)).ok())
    return s;
  for (Release& r : stuck) {
    r.failure_reason = std::string("interrupted: bimd stopped while the release was ") + r.status;
    r.status = release_status::kFailed;
    store_->UpdateRelease(r);
    if (!r.container_name.empty()) docker_->RemoveContainer(r.container_name, true);
    if (r.kind == "deploy" && !r.image_tag.empty()) docker_->RemoveImage(r.image_tag, false);
  }

  // 4. Every container of ours that is not some app's live release is an orphan (a crash between the
  //    switch and the drain, or a release interrupted before it was recorded): remove it. Live
  //    containers keep running untouched.
  std::map<std::string, App> by_name;
  for (const auto& app : apps) by_name[app.name] = app;
  std::vector<ContainerInfo> containers;
  if (!(s = docker_->ListContainers({{labels::kInstance, instance_id_}}, true, &containers)).ok()) return s;
  for (const auto& c : containers) {
    auto app = by_name.find(c.labels.count(labels::kApp) ? c.labels.at(labels::kApp) : "");
    std::string release = c.labels.count(labels::kRelease) ? c.labels.at(labels::kRelease) : "";
    bool live = app != by_name.end() && app->second.live_version > 0 &&
                release == ReleaseName(app->second.live_version);
    if (!live) docker_->RemoveContainer(c.id, true);
  }
  return Status::OK();
}

Status Deployer::DescribeApp(const std::string& app_name, json* out) {
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  json j{{"app", app.name},
         {"url", AppUrl(app.name)},
         {"port", app.port},
         {"health", {{"path", app.health_path}, {"timeout_ms", app.health_timeout_ms}}},
         {"created_at_ms", app.created_at_ms},
         {"live", nullptr},
         {"state", "not deployed"}};
  std::vector<Release> recent;
  store_->ListReleases(app.name, 1, &recent);
  if (!recent.empty()) j["latest"] = ReleaseJson(recent[0]);
  if (app.live_version > 0) {
    Release live;
    if (store_->GetRelease(app.name, app.live_version, &live).ok()) {
      j["live"] = ReleaseJson(live);
      ContainerInfo info;
      Status c = docker_->InspectContainer(live.container_id, &info);
      if (c.ok()) {
        j["container"] = {{"name", info.name},       {"state", info.state},
                          {"running", info.running}, {"restarts", info.restart_count},
                          {"exit_code", info.exit_code}, {"oom_killed", info.oom_killed},
                          {"started_at", info.started_at}, {"finished_at", info.finished_at},
                          {"error", info.error}};
        {
          std::lock_guard<std::mutex> lock(exits_mu_);
          if (auto e = last_exit_.find(info.id); e != last_exit_.end()) {
            j["container"]["last_exit"] = {{"code", e->second.code}, {"at_ms", e->second.at_ms}};
            // Docker resets ExitCode when it restarts the container; the last real exit is ours.
            j["container"]["exit_code"] = e->second.code;
          }
        }
        if (info.running)
          j["state"] = info.restart_count > 0 ? "running (restarted " + std::to_string(info.restart_count) + "x)"
                                              : "running";
        else if (info.state == "restarting")
          j["state"] = "restarting: the container keeps exiting (last exit code " + std::to_string(info.exit_code) +
                       "); see `bim logs " + app.name + "`";
        else
          j["state"] = "down: the container " + info.state + " with exit code " + std::to_string(info.exit_code) +
                       " and Docker did not restart it; redeploy or roll back";
      } else {
        j["state"] = "down: the live container is missing (" + c.message() + "); redeploy to recover";
      }
    }
  }
  *out = std::move(j);
  return Status::OK();
}

Status Deployer::Logs(const std::string& app_name, int tail, bool follow, const LineSink& on_line,
                      const CancelCheck& cancelled) {
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
  if (r.container_id.empty())
    return Status::NotFound("app \"" + app_name + "\" has no running release to show logs of (deploy it first)");
  s = docker_->ContainerLogs(r.container_id, tail, follow, on_line, cancelled);
  if (s.IsNotFound())
    return Status::NotFound("the container of " + ReleaseName(r.version) + " no longer exists (its release " +
                            r.status + ")");
  return s;
}

}  // namespace bim
