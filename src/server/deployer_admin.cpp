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

namespace {

// True for tags bim built for `app` ("bim/<app>:v3", "bim/<app>:v3-<service>").
bool OurTag(const std::string& app, const std::string& tag) {
  return tag.starts_with(std::string(kImageRepository) + "/" + app + ":");
}

// True for the tags release `version` of `app` built or loaded (a reused image carries another
// release's version and serves that one too).
bool BuiltByRelease(const std::string& app, int64_t version, const std::string& tag) {
  const std::string own = std::string(kImageRepository) + "/" + app + ":" + ReleaseName(version);
  return tag == own || tag.starts_with(own + "-");
}

}  // namespace

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

Status Deployer::Destroy(const std::string& app_name, const std::string& actor, bool volumes, json* removed) {
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
  json containers = json::array(), images = json::array(), gone_volumes = json::array(), kept = json::array();
  json elsewhere = json::array();  // volumes on a node bimd does not reach: what to run there
  // Site first, so nginx stops sending traffic before the workloads go away.
  bool route = note(router_->RemoveSite(app_name), "removing the site");
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> routed(routed_mu_);
    for (const auto& [key, r] : routed_)
      if (key == app_name || key.starts_with(app_name + ".")) keys.push_back(key);
    ForgetRoutesLocked(app_name);
  }
  if (std::find(keys.begin(), keys.end(), app_name) == keys.end()) keys.push_back(app_name);
  for (const auto& key : keys) route = note(router_->RemoveRoute(key), "removing the route " + key) && route;
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
        if (!OurTag(app_name, tag)) continue;
        if (note(images_->RemoveImage(tag, false), "removing image " + tag)) images.push_back(tag);
      }
    }
  }
  // Named volumes outlive the app unless asked: a database's data is not lost to a typo.
  std::vector<VolumeInfo> vols;
  if (note(engine_->ListVolumes(mine, false, &vols), "listing its volumes")) {
    for (const auto& v : vols) {
      std::string name = v.labels.count(labels::kVolume) ? v.labels.at(labels::kVolume) : v.name;
      if (!volumes) kept.push_back(name);
      else if (Status r = engine_->RemoveVolume(v.name); r.code() == Code::kFailedPrecondition) elsewhere.push_back(r.message());
      else if (note(r, "removing volume " + name)) gone_volumes.push_back(name);
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
  AuditEntry audit{0, 0, actor, "destroy", app_name, result, volumes ? "with volumes" : ""};
  store_->AppendAudit(&audit);
  *removed = json{{"app", app_name},   {"containers", containers}, {"images", images},
                  {"route", route},    {"volumes", gone_volumes},  {"kept_volumes", kept},
                  {"volumes_elsewhere", elsewhere}};
  if (!problems.empty())
    return Status::Internal("app \"" + app_name + "\" is destroyed, but " + problems[0] +
                            (problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : "") +
                            "; bimd removes what is left when it next starts");
  return Status::OK();
}

Status Deployer::Reconcile() {
  // 1. Sites and routes follow the database, and are fixed before nginx serves anything:
  //    live_version only changes when a release is recorded live, so whatever step a crash
  //    interrupted, the database names the last good release of every app. Its workloads still run
  //    (a replaced one is retired only after the new release is recorded), except a service that was
  //    being replaced stop-first: that one is started again from its record (step 5).
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
  struct Missing {
    std::string app;
    ReleaseService record;
    size_t services;  // how many the live release runs
  };
  std::vector<Missing> missing;
  for (const auto& app : apps) {
    if (app.live_version == 0) continue;
    Release live;
    std::vector<ReleaseService> records;
    if (!store_->GetRelease(app.name, app.live_version, &live).ok() || !LoadServices(app, live, &records).ok()) continue;
    std::vector<ServiceSpec> specs;
    for (const auto& record : records) {
      ServiceSpec spec;
      if (!ServiceSpecFromJson(json::parse(record.spec, nullptr, false), &spec).ok()) continue;
      specs.push_back(spec);
      live_workloads.insert(record.workload);
      auto w = by_name.find(record.workload);
      if (w == by_name.end()) missing.push_back({app.name, record, records.size()});
      std::string key = ServiceRouteKey(app.name, spec);
      if (key.empty()) continue;
      std::vector<Endpoint> backends;
      if (w != by_name.end()) {
        // The running instances (never one on a host reported down); if none runs right now (a lone
        // container restarting), every known endpoint, since the engine brings instances back there.
        backends = w->second->RunningEndpoints();
        if (backends.empty())
          for (const Instance& i : w->second->instances)
            if (i.endpoint.port > 0) backends.push_back(i.endpoint);
      }
      std::sort(backends.begin(), backends.end());
      routes[key] = backends;
      routed[key] = Routed{record.workload, backends, spec.http.health_path};
    }
    sites.push_back(SiteFor(app.name, specs));
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

  // 3. Releases a crash interrupted can never finish: mark them failed, remove the workloads they
  //    started (never one the live release runs: an unchanged service keeps its older workload) and
  //    untag what they built.
  std::vector<Release> stuck;
  if (!(s = store_->ListReleasesWithStatus({release_status::kBuilding, release_status::kStarting}, &stuck)).ok())
    return s;
  std::set<std::string> removed;
  for (Release& r : stuck) {
    r.failure_reason = std::string("interrupted: bimd stopped while the release was ") + r.status;
    r.status = release_status::kFailed;
    store_->UpdateRelease(r);
    for (const auto& w : workloads) {
      auto app = w.labels.find(labels::kApp);
      auto release = w.labels.find(labels::kRelease);
      if (app == w.labels.end() || app->second != r.app || release == w.labels.end() ||
          release->second != ReleaseName(r.version) || live_workloads.count(w.name))
        continue;
      engine_->Remove(w.name, 0);
      removed.insert(w.name);
    }
    if (r.kind != "deploy") continue;
    std::vector<ImageInfo> imgs;
    images_->ListImages({{labels::kInstance, instance_id_}, {labels::kApp, r.app}}, &imgs);
    for (const auto& img : imgs)
      for (const auto& tag : img.tags)
        if (BuiltByRelease(r.app, r.version, tag)) images_->RemoveImage(tag, false);
  }

  // 4. Every workload of ours that is not run by some app's live release is an orphan (a crash
  //    between the switch and the drain, or a release interrupted before it was recorded): drain and
  //    remove it. Live workloads keep running untouched.
  //    A watch bimd was stopped in the middle of goes on with its standby (ResumeWatches).
  std::set<std::string> standby = ResumeWatches(apps);
  std::vector<Workload> orphans;
  for (const auto& w : workloads)
    if (!live_workloads.count(w.name) && !removed.count(w.name) && !standby.count(w.name)) orphans.push_back(w);
  DrainAndRemove(orphans);

  // 5. A live service whose workload is gone (a crash while it was replaced stop-first) starts again
  //    from its record, after the orphans are gone: never two copies on one volume.
  for (const auto& [app, record, services] : missing) {
    std::fprintf(stderr, "bimd: starting %s (service %s of %s) again: the live release runs it and it was gone\n",
                 record.workload.c_str(), record.service.c_str(), app.c_str());
    if (Status r = RestartRecorded(app, record, services); !r.ok())
      std::fprintf(stderr, "bimd: warning: cannot start %s: %s\n", record.workload.c_str(), r.message().c_str());
  }

  // 6. Images: a crash between a switch and its prune leaves images beyond options.keep_releases, and
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

}  // namespace bim
