// Deployer operations besides the release flow: destroy, reconcile, status and logs.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "core/deploy_plan.h"
#include "server/context_store.h"
#include "docker/build_cgroup.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

uint64_t Deployer::CancelGeneration(const std::string& app) {
  std::lock_guard<std::mutex> lock(cancel_mu_);
  auto it = cancels_.find(app);
  return it == cancels_.end() ? 0 : it->second.generation;
}

bool Deployer::CancelledSince(const std::string& app, uint64_t generation, std::string* reason) {
  std::lock_guard<std::mutex> lock(cancel_mu_);
  auto it = cancels_.find(app);
  if (it == cancels_.end() || it->second.generation == generation) return false;
  *reason = it->second.reason;
  return true;
}

Status Deployer::Cancel(const std::string& app, const std::string& reason, std::string* what) {
  std::string running;
  if (!locks_.Busy(app, &running))
    return Status::NotFound("app \"" + app + "\" has no release in progress (see `bim status " + app + "`)");
  {
    std::lock_guard<std::mutex> lock(cancel_mu_);
    CancelState& state = cancels_[app];
    state.generation++;
    state.reason = reason;
  }
  *what = running;
  return Status::OK();
}

Status Deployer::Destroy(const std::string& app_name, const std::string& actor, json* removed) {
  // A release in progress would otherwise keep the app (and this call) waiting until it is done.
  std::string running;
  if (Cancel(app_name, "cancelled: the app is being destroyed", &running).ok())
    std::fprintf(stderr, "bimd: destroying %s: cancelled %s\n", app_name.c_str(), running.c_str());
  AppLocks::Holder lock = locks_.Acquire(app_name, "destroy");
  App app;
  Status s = store_->GetApp(app_name, &app);
  if (!s.ok()) return s;
  // Deleting the app from the database is the commit point: from then on the destroy has happened,
  // and whatever a crash leaves (site, route, workloads, images, history) Reconcile removes at the
  // next start. Removing things first would let a crash leave an app that is live in the database
  // but has lost its workload.
  if (!(s = store_->DeleteApp(app_name)).ok()) return s;  // its domains and certificate record too
  watch_->End(app_name);  // its standby goes with everything else below
  Failpoint("destroy");
  std::vector<std::string> problems;
  auto note = [&](const Status& r, const std::string& what) {
    if (!r.ok() && !r.IsNotFound()) problems.push_back(what + ": " + r.message());
    return r.ok();
  };
  // Site first, so nginx stops sending traffic before the workloads go away.
  bool route = note(router_->RemoveSite(app_name), "removing the site");
  route = note(router_->RemoveRoute(app_name), "removing the route") && route;
  {
    std::lock_guard<std::mutex> routed(routed_mu_);
    routed_.erase(app_name);
  }
  json containers = json::array(), images = json::array();
  Labels mine{{labels::kInstance, instance_id_}, {labels::kApp, app_name}};
  std::vector<Workload> found;
  if (note(engine_->List(mine, &found), "listing its workloads")) {
    // A replaced release may still be draining: this removes it now instead of the retire loop. The
    // loop may be removing one right now; Docker then answers Conflict ("removal already in
    // progress") until it is gone, which is waited out rather than reported.
    {
      std::lock_guard<std::mutex> retiring(retire_mu_);
      std::erase_if(retire_queue_, [&found](const Retirement& r) {
        return std::any_of(found.begin(), found.end(), [&r](const Workload& w) { return w.name == r.workload; });
      });
    }
    for (const auto& w : found) {
      Status r = engine_->Remove(w.name, 0);
      for (long long until = MonotonicMillis() + (options_.stop_timeout_seconds + 5) * 1000LL;
           r.code() == Code::kConflict && MonotonicMillis() < until;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        r = engine_->Remove(w.name, 0);
      }
      if (note(r, "removing " + w.name)) containers.push_back(w.name);
    }
  }
  std::vector<ImageInfo> imgs;
  if (note(images_->ListImages(mine, &imgs), "listing its images")) {
    for (const auto& img : imgs) {
      // Remove our tags one by one (never force by id: another tag on the same image may not be ours).
      for (const auto& tag : img.tags) {
        if (!tag.starts_with("bim/" + app_name + ":")) continue;
        if (note(images_->RemoveImage(tag, false), "removing image " + tag)) images.push_back(tag);
      }
    }
  }
  RemoveAppNetwork(app_name);
  if (contexts_) {
    if (Status c = contexts_->RemoveApp(app_name); !c.ok())
      std::fprintf(stderr, "bimd: warning: %s\n", c.message().c_str());
  }
  if (!options_.certs.certs_dir.empty()) {
    std::error_code ec;  // the certificate's files: nothing serves them any more
    std::filesystem::remove_all(options_.certs.certs_dir + "/" + app_name, ec);
  }
  if (observer_) observer_->OnDestroyed(app_name);
  std::string result = "ok";
  if (!problems.empty()) {
    result = "destroyed; left for the next start: " + problems[0];
    for (size_t i = 1; i < problems.size(); ++i) result += "; " + problems[i];
  }
  AuditEntry audit{0, 0, actor, "destroy", app_name, result, ""};
  store_->AppendAudit(&audit);
  *removed = json{{"app", app_name}, {"containers", containers}, {"images", images}, {"route", route}};
  if (!problems.empty())
    return Status::Internal("app \"" + app_name + "\" is destroyed, but " + problems[0] +
                            (problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : "") +
                            "; bimd removes what is left when it next starts");
  return Status::OK();
}

Status Deployer::Reconcile() {
  // 1. Sites and routes follow the database, and are fixed before nginx serves anything:
  //    live_version only changes when a release is recorded live, so whatever step a crash
  //    interrupted, the database names the last good release of every app. Its workload still runs
  //    (the previous release is retired only after the new one is recorded); the engine says where.
  std::vector<App> apps;
  Status s = store_->ListApps(&apps);
  if (!s.ok()) return s;
  std::vector<Workload> workloads;
  if (!(s = engine_->List({{labels::kInstance, instance_id_}}, &workloads)).ok()) return s;
  std::map<std::string, const Workload*> by_name;
  for (const auto& w : workloads) by_name[w.name] = &w;
  std::vector<Site> sites;
  RouteTable routes;
  std::map<std::string, Routed> routed;
  std::set<std::string> live_workloads;
  for (const auto& app : apps) {
    if (app.live_version == 0) continue;
    Release live;
    if (!store_->GetRelease(app.name, app.live_version, &live).ok()) continue;
    live_workloads.insert(live.container_name);
    std::vector<Endpoint> backends;
    if (auto w = by_name.find(live.container_name); w != by_name.end()) {
      // The running instances (never one on a host reported down); if none runs right now (a lone
      // container restarting), every known endpoint, since the engine brings instances back there.
      backends = w->second->RunningEndpoints();
      if (backends.empty())
        for (const Instance& i : w->second->instances)
          if (i.endpoint.port > 0) backends.push_back(i.endpoint);
    }
    std::sort(backends.begin(), backends.end());
    sites.push_back(SiteFor(app.name));
    routes[app.name] = backends;
    routed[app.name] = Routed{live.container_name, backends};
  }
  if (!(s = router_->Start(sites, routes)).ok()) return s.Wrap("starting nginx on " + options_.nginx.listen);
  {
    std::lock_guard<std::mutex> lock(routed_mu_);
    routed_ = std::move(routed);
  }

  // 2. Uploads a crash left behind are useless: their deploys are over. So are stored build contexts
  //    of apps that no longer (or never) exist.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(options_.data_dir + "/uploads", ec))
    std::filesystem::remove(e.path(), ec);
  std::set<std::string> names;
  for (const auto& app : apps) names.insert(app.name);
  if (contexts_) contexts_->RemoveAppsExcept(names);
  // Certificate files of apps a crash destroyed before their files went.
  if (!options_.certs.certs_dir.empty())
    for (const auto& e : std::filesystem::directory_iterator(options_.certs.certs_dir, ec))
      if (!names.count(e.path().filename().string())) std::filesystem::remove_all(e.path(), ec);

  // 3. Releases a crash interrupted can never finish: mark them failed and remove their workloads.
  std::vector<Release> stuck;
  if (!(s = store_->ListReleasesWithStatus({release_status::kBuilding, release_status::kStarting}, &stuck)).ok())
    return s;
  std::set<std::string> removed;
  for (Release& r : stuck) {
    r.failure_reason = std::string("interrupted: bimd stopped while the release was ") + r.status;
    r.status = release_status::kFailed;
    store_->UpdateRelease(r);
    if (!r.container_name.empty()) {
      engine_->Remove(r.container_name, 0);
      removed.insert(r.container_name);
    }
    // Only an image this release built or loaded carries its own version; a reused one serves others.
    if (r.kind == "deploy" && r.image_tag.ends_with(":" + ReleaseName(r.version))) images_->RemoveImage(r.image_tag, false);
  }

  // 4. Every workload of ours that is not some app's live release is an orphan (a crash between the
  //    switch and the drain, or a release interrupted before it was recorded): drain and remove it.
  //    Live workloads keep running untouched.
  //    A watch bimd was stopped in the middle of goes on with its standby (ResumeWatches).
  std::set<std::string> standby = ResumeWatches(apps);
  std::vector<Workload> orphans;
  for (const auto& w : workloads)
    if (!live_workloads.count(w.name) && !removed.count(w.name) && !standby.count(w.name)) orphans.push_back(w);
  DrainAndRemove(orphans);

  // 5. Images: a crash between a switch and its prune leaves images beyond options.keep_releases, and
  //    a destroy a crash interrupted leaves images of an app the database no longer knows.
  std::set<std::string> known;
  for (const auto& app : apps) known.insert(app.name);
  std::vector<ImageInfo> images;
  if (!(s = images_->ListImages({{labels::kInstance, instance_id_}}, &images)).ok()) return s;
  std::set<std::string> tags;
  std::map<std::string, int> tags_of;  // per app: only an app with more than it keeps needs a prune
  for (const auto& img : images) {
    std::string owner = img.labels.count(labels::kApp) ? img.labels.at(labels::kApp) : "";
    for (const auto& tag : img.tags) {
      if (owner.empty() || known.count(owner)) {
        tags.insert(tag);
        ++tags_of[owner];
      } else if (tag.starts_with("bim/" + owner + ":")) {
        images_->RemoveImage(tag, false);
      }
    }
  }
  for (const auto& app : apps)
    if (tags_of[app.name] > options_.keep_releases) PruneImages(app.name, &tags);
  return Status::OK();
}

void Deployer::DrainAndRemove(const std::vector<Workload>& workloads) {
  std::vector<Endpoint> backends;
  for (const auto& w : workloads)
    for (const auto& i : w.instances)
      if (i.endpoint.port > 0) backends.push_back(i.endpoint);
  // The routes were just reset to the live releases; a request that an orphan still serves (nginx
  // routed to it before the crash) is given until the drain grace to finish.
  long long deadline = MonotonicMillis() + options_.drain_grace.count();
  std::vector<int64_t> counts;
  while (!backends.empty() && MonotonicMillis() < deadline) {
    if (!router_->InFlight(backends, &counts).ok()) break;
    bool busy = false;
    for (int64_t n : counts) busy = busy || n > 0;
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& w : workloads) engine_->Remove(w.name, 0);
}

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
         {"state", "not deployed"}};
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
  if (app.live_version > 0) {
    Release live;
    if (store_->GetRelease(app.name, app.live_version, &live).ok()) {
      j["live"] = with_watch(live);
      Workload w;
      Status c = engine_->Inspect(live.container_name, &w);
      if (c.ok() && w.instances.empty()) c = Status::NotFound("it has no instances");
      if (c.ok()) {
        json instances = json::array();
        {
          std::lock_guard<std::mutex> lock(exits_mu_);
          for (const Instance& i : w.instances) {
            json one = {{"id", i.id},           {"node", i.node},
                        {"endpoint", i.endpoint.port ? i.endpoint.ToString() : ""},
                        {"state", i.state},     {"running", i.running},
                        {"restarts", i.restarts}, {"exit_code", i.exit_code},
                        {"oom_killed", i.oom_killed}, {"started_at", i.started_at},
                        {"finished_at", i.finished_at}, {"error", i.error}};
            if (auto e = last_exit_.find(i.id); e != last_exit_.end()) {
              one["last_exit"] = {{"code", e->second.code}, {"at_ms", e->second.at_ms}};
              // Docker resets ExitCode when it restarts the container; the last real exit is ours.
              one["exit_code"] = e->second.code;
            }
            instances.push_back(one);
          }
        }
        // "container": the first instance, as `bim status` has always shown it.
        json first = instances[0];
        first["name"] = w.name;
        j["container"] = first;
        j["instances"] = instances;
        const Instance& info = w.instances.front();
        int exit_code = first["exit_code"].get<int>();
        int running = 0;
        const Instance* trouble = nullptr;
        for (const Instance& i : w.instances) {
          if (i.running) ++running;
          else if (!trouble) trouble = &i;
        }
        auto why = [&] {
          return trouble ? (trouble->node.empty() ? "" : trouble->node + ": ") + trouble->state +
                               (trouble->error.empty() ? "" : " (" + trouble->error + ")")
                         : std::string();
        };
        int wanted = std::max(live.replicas, 1);
        if (wanted > 1 || !info.node.empty()) {
          // Several instances (a cluster): say how many of them serve, and what is wrong with the rest.
          std::string counts = std::to_string(running) + "/" + std::to_string(wanted) + " instances";
          if (running >= wanted)
            j["state"] = "running (" + counts + ")";
          else if (running > 0)
            j["state"] = "degraded: " + counts + " running; " + why() + "; the engine is replacing the rest";
          else
            j["state"] = "down: no instance is running; " + why() + "; see `bim logs " + app.name + "`";
        } else if (info.running)
          j["state"] = info.restarts > 0 ? "running (restarted " + std::to_string(info.restarts) + "x)" : "running";
        else if (info.state == "restarting")
          j["state"] = "restarting: the container keeps exiting (last exit code " + std::to_string(exit_code) +
                       "); see `bim logs " + app.name + "`";
        else
          j["state"] = "down: the container " + info.state + " with exit code " + std::to_string(exit_code) +
                       " and Docker did not restart it; redeploy or roll back";
      } else {
        j["state"] = "down: the live container is missing (" + c.message() + "); redeploy to recover";
      }
    }
  }
  *out = std::move(j);
  return Status::OK();
}

json Deployer::ServerState() {
  json out;
  std::vector<ImageInfo> images;
  Status s = images_->ListImages({{labels::kInstance, instance_id_}}, &images);
  out["docker"] = {{"state", s.ok() ? "answering" : "error"}, {"error", s.ok() ? "" : s.message()}};
  long long bytes = 0;
  for (const auto& img : images) bytes += img.size;
  out["images"] = {{"count", images.size()}, {"bytes", bytes}};
  std::vector<int64_t> counts;
  s = router_->InFlight({}, &counts);
  out["proxy"] = {{"state", s.ok() ? "answering" : "error"}, {"error", s.ok() ? "" : s.message()}};
  long long context_bytes = 0;
  int holding = 0;
  std::vector<App> apps;
  if (contexts_ && store_->ListApps(&apps).ok()) {
    for (const auto& app : apps) {
      int64_t used = contexts_->UsageBytes(app.name);
      if (used > 0) ++holding, context_bytes += used;
    }
  }
  out["contexts"] = {{"apps", holding}, {"bytes", context_bytes}};
  return out;
}

Status Deployer::Nodes(json* out) {
  std::vector<EngineNode> nodes;
  Status s = engine_->Nodes({{labels::kInstance, instance_id_}}, &nodes);
  if (!s.ok()) return s;
  json list = json::array();
  for (const auto& n : nodes) {
    json tasks = json::array();
    for (const auto& t : n.tasks) {
      auto label = [&t](const char* key) { return t.labels.count(key) ? t.labels.at(key) : std::string(); };
      tasks.push_back({{"app", label(labels::kApp)},
                       {"release", label(labels::kRelease)},
                       {"workload", t.workload},
                       {"state", t.state},
                       {"endpoint", t.endpoint.port ? t.endpoint.ToString() : ""}});
    }
    json node = {{"id", n.id},           {"hostname", n.hostname},
                 {"address", n.address}, {"role", n.role},
                 {"availability", n.availability}, {"state", n.state},
                 {"message", n.message}, {"leader", n.leader},
                 {"engine_version", n.engine_version}, {"labels", n.labels},
                 {"tasks", tasks},       {"warning", ""}};
    if (!n.pull_error.empty()) {
      node["warning"] = "cannot pull images from bimd's registry " + options_.registry_listen + " (" + n.pull_error +
                        "); on that host, make dockerd trust it: add \"" + options_.registry_listen +
                        "\" to insecure-registries in /etc/docker/daemon.json, or put the registry's CA in "
                        "/etc/docker/certs.d/" + options_.registry_listen + "/ca.crt (README: Running on several hosts)";
    } else if (n.state != "ready") {
      node["warning"] = "the host is " + n.state + (n.message.empty() ? "" : " (" + n.message + ")") +
                        ": nothing is routed to it; Swarm runs its tasks on the other hosts";
    }
    list.push_back(node);
  }
  *out = json{{"engine", options_.engine}, {"registry", options_.registry_listen}, {"nodes", list}};
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
  if (r.container_id.empty() || r.container_name.empty())
    return Status::NotFound("app \"" + app_name + "\" has no running release to show logs of (deploy it first)");
  s = engine_->Logs(r.container_name, tail, follow, on_line, cancelled);
  if (s.IsNotFound())
    return Status::NotFound("the container of " + ReleaseName(r.version) + " no longer exists (its release " +
                            r.status + ")");
  return s;
}

}  // namespace bim
