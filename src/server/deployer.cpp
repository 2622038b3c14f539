// The release flow. Administrative operations (destroy, reconcile, status, logs) are in
// deployer_admin.cpp.
#include "server/deployer.h"
#include "server/deployer_attempt.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "base/health_probe.h"
#include "core/deploy_plan.h"
#include "docker/build_cgroup.h"

namespace bim {

using nlohmann::json;

std::string ReleaseSource(const Release& r) {
  if (r.git_commit.empty()) return "";
  return r.git_commit.substr(0, 7) + (r.git_dirty ? "-dirty" : "");
}

namespace {
// The most bytes of a failed release's last log lines kept in its record.
constexpr size_t kMaxStoredLogTail = 64 * 1024;

json LogTailLines(const std::string& text) {
  json lines = json::array();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}
}  // namespace

json ReleaseJson(const Release& r) {
  return json{{"app", r.app},
              {"release", ReleaseName(r.version)},
              {"version", r.version},
              {"status", r.status},
              {"kind", r.kind},
              {"image", r.image_tag},
              {"image_id", r.image_id},
              {"container", r.container_name},
              {"git_commit", r.git_commit},
              {"git_dirty", r.git_dirty},
              {"source", ReleaseSource(r)},
              {"source_digest", r.source_digest},
              {"env_digest", r.env_digest},
              {"context_digest", r.context_digest},
              {"failure_reason", r.failure_reason},
              {"log_tail", LogTailLines(r.log_tail)},
              {"created_at_ms", r.created_at_ms},
              {"finished_at_ms", r.finished_at_ms},
              {"build_ms", r.build_ms},
              {"health_ms", r.health_ms},
              {"total_ms", r.total_ms},
              {"replicas", r.replicas},
              {"engine_image", r.engine_image}};
}

Deployer::Deployer(const ServerOptions& options, DeployerDeps deps, std::string instance_id)
    : options_(options),
      store_(deps.store),
      images_(deps.images),
      engine_(deps.engine),
      router_(deps.router),
      contexts_(deps.contexts),
      probe_(deps.probe),
      instance_id_(std::move(instance_id)) {
  if (!probe_) {
    probe_ = [](const Endpoint& at, const std::string& path, std::chrono::milliseconds timeout) {
      return ProbeHealth(at, path, timeout);
    };
  }
  WatchOptions watch;
  watch.check_interval = options_.watch_check_interval;
  watch.probe_timeout = options_.health_probe_timeout;
  watch.failures_to_fail = options_.watch_failures;
  watch_ = std::make_unique<ReleaseWatch>(
      watch, engine_, probe_, [this](const WatchTarget& t, const WatchVerdict& v) { OnWatchVerdict(t, v); });
  retirer_ = std::thread([this] { RetireLoop(); });
  event_watcher_ = std::thread([this] { WatchEvents(); });
  follower_ = std::thread([this] { FollowLoop(); });
}

int Deployer::LastExitCode(const Instance& i) {
  if (!i.running && i.restarts == 0) return i.exit_code;
  // Docker resets ExitCode when its restart policy starts the container again; the code of the
  // exit that caused the restart arrives with the "die" event, which may trail the inspect a little.
  long long until = MonotonicMillis() + options_.exit_event_wait.count();
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(exits_mu_);
      if (auto e = last_exit_.find(i.id); e != last_exit_.end()) return e->second.code;
    }
    if (MonotonicMillis() >= until) return i.exit_code;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Deployer::ForgetRoutesLocked(const std::string& app) {
  for (auto it = routed_.lower_bound(app); it != routed_.end() && it->first.starts_with(app);) {
    if (it->first == app || it->first.starts_with(app + "."))
      it = routed_.erase(it);
    else
      ++it;
  }
}

Deployer::~Deployer() {
  watch_.reset();  // no verdict acts on the engine or router from here on
  stop_watching_ = true;
  event_watcher_.join();
  follow_cv_.notify_all();
  follower_.join();
  {
    std::lock_guard<std::mutex> lock(retire_mu_);
    shutting_down_ = true;
  }
  retire_cv_.notify_all();
  retirer_.join();
}

std::string Deployer::AppUrl(const std::string& app) const {
  return bim::AppUrl(app, options_.domain, PublicPortSuffix(options_.nginx.listen));
}

Status Deployer::Deploy(const DeployRequest& request, const EventSink& events, const CancelCheck& cancelled,
                        DeployOutcome* out) {
  std::string written;  // a context tar ChooseSource wrote
  struct Cleanup {
    std::vector<const std::string*> paths;
    ~Cleanup() {
      for (const std::string* p : paths)
        if (!p->empty()) unlink(p->c_str());
    }
  } cleanup{{&request.context_path, &request.image_archive_path, &written}};
  if (Status s = CheckResources(request.config); !s.ok()) return s;
  if (options_.engine == "swarm" && request.config.health.watch && request.config.health.watch->count() > 0)
    return Status::InvalidArgument("[health] watch is not supported on the Swarm engine yet: set watch = \"0\" or "
                                   "remove it from bim.toml");
  ReleaseSpec spec;
  spec.app = request.config.app;
  spec.kind = "deploy";
  spec.actor = request.actor;
  spec.wait = request.wait;
  spec.context_path = request.context_path;
  spec.build_args = request.config.build_args;
  spec.git_commit = request.git_commit;
  spec.git_dirty = request.git_dirty;
  spec.source_digest = request.source_digest;
  auto prepare = [&](App* app, ReleaseSpec* spec) -> Status {
    const App before = *app;
    app->health_timeout_ms = request.config.health.timeout.count();
    app->resources = request.config.resources;
    app->build_timeout_ms = request.config.build_timeout.count();
    // bim.toml's [deploy]: placement always (it is the whole truth), replicas when it names a count
    // (otherwise the app keeps what `bim scale` set).
    if (request.config.deploy.replicas > 0) app->replicas = request.config.deploy.replicas;
    app->placement = request.config.deploy.placement;
    app->watch_ms = request.config.health.watch ? request.config.health.watch->count() : -1;
    // The rule: the server's stored env (bim env set) first, then the folder's .env on top; a key in
    // both takes the folder's value. A Compose app's services each get it over their own env.
    EnvList stored;
    Status s = store_->GetAppEnv(app->name, &stored);
    if (!s.ok() && !s.IsNotFound()) return s;
    spec->env = stored;
    for (const auto& var : request.env) SetEnv(&spec->env, var.key, var.value);
    if (request.compose.text.empty()) {
      s = PlainAppServices(request.config, spec->env, &spec->services);
    } else {
      ComposeSource source = request.compose;
      source.variables = spec->env;
      source.profiles = request.config.profiles;
      ComposeProject project;
      if ((s = ParseCompose(source, &project)).ok())
        s = ComposeAppServices(request.config, project, spec->env, &spec->services);
    }
    if (!s.ok()) return s;
    // The watch after the switch covers an app of one HTTP service replaced start-first (deployer.h).
    if (request.config.health.watch && request.config.health.watch->count() > 0 && !WatchableServices(spec->services))
      return Status::InvalidArgument("[health] watch is not supported yet for a Compose app of several services (or "
                                     "one replaced stop-first): set watch = \"0\" or remove it from bim.toml");
    const ServiceSpec* main = nullptr;
    for (const auto& svc : spec->services.services) {
      if (svc.http.main) main = &svc;
      // A Compose service's own limits and images keep to the same tenant rules as bim.toml's.
      ResourceRequest asked{svc.memory_bytes, svc.nano_cpus, svc.pids};
      if (!(s = CheckResourceRequest(asked, "service " + svc.name + "'s deploy.resources.limits")).ok()) return s;
      if (!svc.build && !(s = CheckServiceImage(app->name, svc.name, svc.image)).ok()) return s;
    }
    // A Compose file's deploy.replicas of the main service counts like bim.toml's [deploy] replicas.
    if (main && !request.compose.text.empty() && request.config.deploy.replicas == 0 && main->replicas > 1)
      app->replicas = main->replicas;
    app->port = main ? main->http.port : request.config.port;
    app->health_path = main ? main->http.health_path : request.config.health.path;
    return ChooseSource(before, *app, request, spec, events, &written);
  };
  Status s = Execute(spec, prepare, events, cancelled, out);
  // bim.toml [http] shapes the custom domains' redirects: taken once the deploy succeeded (an
  // unchanged deploy too), so a failed deploy changes nothing.
  if (s.ok()) ApplyHttpConfig(spec.app, request.config.http);
  if (s.ok() && request.wait_watch && out->watch.is_object()) return WaitForWatch(events, cancelled, out);
  return s;
}

Status Deployer::Execute(ReleaseSpec spec, const Prepare& prepare, const EventSink& events,
                         const CancelCheck& cancelled, DeployOutcome* out) {
  const std::string name = spec.app;
  const uint64_t generation = CancelGeneration(name);
  // Whatever stops an operation before its release is recorded is logged too, so bimd's log alone
  // explains every operation that did not go live.
  auto refuse = [&](const Status& why) {
    std::fprintf(stderr, "bimd: %s of %s refused (no release recorded): %s\n", spec.kind.c_str(), name.c_str(),
                 why.message().c_str());
    return why;
  };
  std::string busy_with;
  AppLocks::Holder lock = spec.wait ? locks_.Acquire(name, "a " + spec.kind)
                                    : locks_.TryAcquire(name, "a " + spec.kind, &busy_with);
  if (!lock.held())
    return refuse(Status::Conflict("app \"" + name + "\" is busy with " + busy_with +
                                   " (wait for it, or drop --no-wait to queue behind it)"));
  std::string cancel_reason;
  if (CancelledSince(name, generation, &cancel_reason)) return refuse(Status::Cancelled(cancel_reason));

  Attempt a;
  a.started_ms = MonotonicMillis();
  App app;
  Status s = store_->GetApp(name, &app);
  if (s.IsNotFound() && spec.kind == "deploy") {
    app = App();
    app.name = name;
  } else if (!s.ok()) {
    return refuse(s);
  }
  if (app.live_version > 0 && store_->GetRelease(name, app.live_version, &a.previous).ok())
    if (!(s = LoadServices(app, a.previous, &a.previous_services)).ok()) return refuse(s);
  if (!(s = prepare(&app, &spec)).ok()) return refuse(s);
  if (spec.nothing_to_do) {
    AuditEntry audit{0, 0, spec.actor, spec.kind, name, "ok",
                     "unchanged: " + ReleaseName(a.previous.version) + " stays live"};
    store_->AppendAudit(&audit);
    out->release = a.previous;
    out->url = AppUrl(name);
    out->unchanged = true;
    return Status::OK();
  }
  if (!(s = store_->PutApp(app)).ok()) return refuse(s);
  a.app = app;
  // Another release of the app ends the watch of the live one (the class comment has the rule).
  EndWatch(name, "a newer " + spec.kind + " started");
  if (a.previous.version > 0) a.watch = WatchWindow(app, spec.kind);
  a.context_path = spec.context_path;
  a.image_archive = spec.image_archive;
  a.image_id = spec.image_id;
  a.env = spec.env;
  a.reuse = spec.reuse;

  a.release.app = name;
  a.release.status = release_status::kBuilding;
  a.release.kind = spec.kind;
  a.release.git_commit = spec.git_commit;
  a.release.git_dirty = spec.git_dirty;
  a.release.source_digest = spec.source_digest;
  a.release.env_digest = store_->DigestEnv(spec.env);
  a.release.context_digest = spec.context_digest;
  a.release.replicas = spec.replicas > 0 ? spec.replicas : std::max(app.replicas, 1);
  if (!(s = store_->CreateRelease(&a.release)).ok()) return refuse(s.Wrap("recording the release"));
  if (!(s = store_->SaveReleaseEnv(a.release.id, spec.env)).ok()) {
    s = s.Wrap("saving the release's env");
    FailRelease(&a, s);
    out->release = a.release;
    return s;
  }

  ReleaseInputs inputs;
  inputs.config.app = name;
  inputs.config.port = app.port;
  inputs.config.health.path = app.health_path;
  inputs.config.health.timeout = std::chrono::milliseconds(app.health_timeout_ms);
  inputs.version = a.release.version;
  inputs.domain = options_.domain;
  inputs.instance_id = instance_id_;
  inputs.public_port = PublicPortSuffix(options_.nginx.listen);
  inputs.services = spec.services;
  inputs.image_tag = spec.image_tag;
  for (const auto& [service, record] : spec.reuse) inputs.images[service] = record.image_tag;
  a.plan = PlanRelease(inputs);
  for (size_t i = 0; i < a.plan.services.size(); ++i) {
    ServiceAttempt svc;
    svc.spec = spec.services.services[i];
    // The app's count (bim.toml [deploy] replicas, `bim scale`) is its main service's.
    if (svc.spec.http.main || a.plan.services.size() == 1) svc.spec.replicas = a.release.replicas;
    svc.plan = a.plan.services[i];
    for (const auto& p : a.previous_services)
      if (p.service == svc.spec.name) svc.previous = &p;
    a.services.push_back(std::move(svc));
  }
  a.release.image_tag = a.plan.image_tag;
  a.release.container_name = a.plan.container_name;
  store_->UpdateRelease(a.release);
  locks_.Relabel(name, spec.kind + " " + a.plan.release_name);
  events({{"event", "release"}, {"release", a.plan.release_name}, {"app", name}, {"kind", spec.kind}});

  // The release stops when the client goes away, or when Cancel (bim cancel, bim destroy) is called.
  CancelCheck stop = [&] { return CancelledSince(name, generation, &cancel_reason) || (cancelled && cancelled()); };
  s = RunRelease(&a, events, stop);
  if (s.code() == Code::kCancelled && !cancel_reason.empty())
    s = Status::Cancelled(cancel_reason + " (" + a.plan.release_name + " stopped before it went live)");
  if (!s.ok()) {
    FailRelease(&a, s);
  } else {
    const std::string source = ReleaseSource(a.release);
    std::fprintf(stderr, "bimd: %s %s (%s of %s) is live after %lld ms\n", name.c_str(), a.plan.release_name.c_str(),
                 spec.kind.c_str(), source.empty() ? "a folder outside git" : source.c_str(),
                 MonotonicMillis() - a.started_ms);
    PruneImages(name);
    if (app.replicas != a.release.replicas) {  // a scale: the app keeps the count it went live with
      app.replicas = a.release.replicas;
      store_->PutApp(app);
    }
  }

  AuditEntry audit{0, 0, spec.actor, spec.kind, name, s.ok() ? "ok" : s.message(),
                   a.plan.release_name + (spec.audit_detail.empty() ? "" : " " + spec.audit_detail)};
  store_->AppendAudit(&audit);
  out->release = a.release;
  out->url = PublicUrl(a.release.app, a.plan.url);
  out->log_tail = a.log_tail;
  if (Watch w; s.ok() && a.watch.count() > 0 && store_->GetWatch(a.release.id, &w).ok()) out->watch = WatchJson(w);
  return s;
}

Status Deployer::RunRelease(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  // The network first: builds run on it too.
  Status s = EnsureAppNetwork(a->release.app, a->services.size(), &a->network);
  if (!s.ok()) return s;
  if (!(s = BuildServices(a, events, cancelled)).ok()) return s;
  if (!(s = ResolveImages(a, events)).ok()) return s;
  a->release.status = release_status::kStarting;
  DecideKept(a);
  ServiceAttempt* main = a->Main();
  a->release.image_id = main->image_id;
  a->release.engine_image = main->engine_image;
  a->release.container_name = main->workload;
  store_->UpdateRelease(a->release);
  // Recorded before anything starts, so that a crash from here on finds what this release built.
  if (!(s = store_->SaveReleaseServices(a->release.id, ServiceRecords(*a))).ok()) return s;

  if (!(s = PrepareVolumes(*a)).ok()) return s;
  if (!(s = StartChangedServices(a, events, cancelled)).ok()) return s;
  if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client before the switch");

  events({{"event", "step"}, {"step", "route"}, {"message", "Switching " + a->plan.server_name + " to " +
                                                               a->plan.release_name}});
  std::map<std::string, std::vector<Endpoint>> before;
  {
    std::lock_guard<std::mutex> lock(routed_mu_);
    if (!(s = SwitchRoutes(a, &before)).ok()) return s.Wrap("switching the route");
  }
  Failpoint("switched");

  // The route is live: from here on the release is not failed even if recording it hits an error,
  // and Reconcile makes the database and the router agree after a crash in between.
  if (!(s = store_->ActivateRelease(a->release.app, a->release.version)).ok()) {
    // Traffic goes back to what the database still names live before the new workloads go away.
    std::lock_guard<std::mutex> lock(routed_mu_);
    for (const auto& [key, backends] : before) router_->SetRoute(key, backends);
    ForgetRoutesLocked(a->release.app);
    a->switched = false;
    return s;
  }
  a->release.status = release_status::kLive;
  a->release.finished_at_ms = NowMillis();
  a->release.total_ms = MonotonicMillis() - a->started_ms;
  store_->UpdateRelease(a->release);
  Failpoint("live-recorded");
  // Only now may the previous release's replaced workloads go: until the new one is recorded live, a
  // crash must find the release the database names still running (Reconcile routes back to it). A
  // watched release keeps the one it replaced running as its standby until the watch is over
  // (deployer_watch.cpp).
  if (a->watched)
    StartWatch(a);
  else
    RetireReplaced(a, before);
  if (observer_) observer_->OnLive(a->release, a->env);
  events({{"event", "step"}, {"step", "live"}, {"message", a->plan.release_name + " is live at " + PublicUrl(a->release.app, a->plan.url)}});
  return Status::OK();
}

std::vector<Endpoint> Deployer::Routed::Route() const {
  std::vector<Endpoint> all = backends;
  all.insert(all.end(), standby.begin(), standby.end());
  return all;
}

Status Deployer::SwitchRoutes(Attempt* a, std::map<std::string, std::vector<Endpoint>>* before) {
  const std::string& app = a->release.app;
  std::vector<ServiceSpec> specs;
  for (const auto& svc : a->services) specs.push_back(svc.spec);
  Site site = SiteFor(app, specs);
  Status s;
  // What each HTTP service's route switches to: a kept service keeps the endpoints it has.
  std::map<std::string, Routed> next;  // by route key
  for (const auto& svc : a->services) {
    if (svc.plan.route.empty()) continue;
    std::vector<Endpoint> backends = svc.backends;
    if (svc.keep) {
      auto routed = routed_.find(svc.plan.route);
      if (routed != routed_.end() && routed->second.workload == svc.workload) continue;  // nothing to do
      Workload w;
      if (engine_->Inspect(svc.workload, &w).ok()) backends = w.RunningEndpoints();
    }
    next[svc.plan.route] = Routed{svc.workload, backends, svc.spec.http.health_path, {}};
  }
  // A watched release keeps the workload it replaces in its route as the standby until the watch is
  // over (deployer_watch.cpp); only a release of one HTTP service replacing one start-first is watched.
  a->watched = a->watch.count() > 0 && Watchable(*a);
  auto undo = [&] {
    for (const auto& [key, old] : *before) old.empty() ? router_->RemoveRoute(key) : router_->SetRoute(key, old);
  };
  if (a->previous.version == 0) {
    // A first release: the routes exist before the site that makes them reachable, so the site's
    // first request already finds its backends. A site nginx rejects leaves no route behind.
    for (const auto& [key, target] : next) {
      (*before)[key] = {};
      if (!(s = router_->SetRoute(key, target.backends)).ok()) return undo(), s;
    }
    if (!(s = router_->PutSite(site)).ok()) return undo(), s;
  } else {
    // The site normally exists and is unchanged (PutSite is then a file compare, no reload). It is
    // put first so that a template nginx now rejects fails the release before any traffic moved.
    if (!(s = router_->PutSite(site)).ok()) return s;
    for (auto& [key, target] : next) {
      std::vector<Endpoint>& old = (*before)[key];
      router_->GetRoute(key, &old);  // what to drain; on failure the drain grace decides
      std::erase_if(old, [](const Endpoint& e) { return e.standby; });
      if (a->watched)
        for (Endpoint e : old) target.standby.push_back((e.standby = true, e));
      if (!(s = router_->SetRoute(key, target.Route())).ok()) {
        before->erase(key);
        return undo(), s;
      }
    }
  }
  for (const auto& [key, target] : next) routed_[key] = target;
  // Routes of services that no longer serve HTTP in this release (their names left with the site).
  for (const auto& p : a->previous_services) {
    ServiceSpec old;
    if (!ServiceSpecFromJson(nlohmann::json::parse(p.spec, nullptr, false), &old).ok()) continue;
    std::string key = ServiceRouteKey(app, old);
    bool still = key.empty() || std::any_of(a->services.begin(), a->services.end(),
                                            [&](const ServiceAttempt& svc) { return svc.plan.route == key; });
    if (still) continue;
    router_->GetRoute(key, &(*before)[key]);
    router_->RemoveRoute(key);
    routed_.erase(key);
  }
  a->switched = true;
  return Status::OK();
}

void Deployer::RetireReplaced(Attempt* a, const std::map<std::string, std::vector<Endpoint>>& before) {
  // In start (depends_on) order: what a service depends on goes after it.
  for (const auto& p : a->previous_services) {
    auto svc = std::find_if(a->services.begin(), a->services.end(),
                            [&](const ServiceAttempt& s) { return s.spec.name == p.service; });
    if (svc != a->services.end() && (svc->keep || svc->stopped_previous)) continue;
    ServiceSpec old;
    std::string key;
    if (ServiceSpecFromJson(nlohmann::json::parse(p.spec, nullptr, false), &old).ok())
      key = ServiceRouteKey(a->release.app, old);
    auto drained = before.find(key);
    int grace = old.stop_grace_seconds;
    if (key.empty())
      ScheduleRetire(p.workload, {}, /*drain=*/false, grace);
    else
      ScheduleRetire(p.workload, drained == before.end() ? std::vector<Endpoint>{} : drained->second, true, grace);
  }
}

void Deployer::StartWatch(Attempt* a) {
  Watch w;
  w.release_id = a->release.id;
  w.app = a->release.app;
  w.version = a->release.version;
  w.state = watch_state::kWatching;
  w.standby_version = a->previous.version;
  w.window_ms = a->watch.count();
  w.started_at_ms = NowMillis();
  w.until_ms = w.started_at_ms + w.window_ms;
  if (Status s = store_->PutWatch(w); !s.ok()) {
    // Without its record the watch could not be resumed or reported: do without it, retire at once.
    std::fprintf(stderr, "bimd: warning: not watching %s %s: %s\n", w.app.c_str(), ReleaseName(w.version).c_str(),
                 s.message().c_str());
    RetireStandby(w.app, w.standby_version);
    return;
  }
  const ServiceAttempt* main = a->Main();
  watch_->Watch(WatchTarget{w.app, w.version, main->workload, main->backends, main->spec.http.health_path, w.until_ms});
}

bool Deployer::Watchable(const Attempt& a) const {
  if (a.previous.version == 0 || a.services.size() != 1 || a.previous_services.size() != 1) return false;
  const ServiceAttempt& svc = a.services.front();
  const ReleaseService& old = a.previous_services.front();
  return svc.plan.route == a.release.app && svc.spec.name == old.service && !svc.keep && !svc.stopped_previous &&
         !old.workload.empty() && old.workload != svc.workload;
}

bool WatchableServices(const AppServices& services) {
  return services.services.size() == 1 && services.services.front().http.main && !services.services.front().stop_first;
}

void Deployer::FailRelease(Attempt* a, const Status& why) {
  ServiceAttempt* failing = a->failing ? a->failing : a->Main();
  if (failing && failing->started)
    engine_->Logs(failing->plan.workload, options_.log_lines_on_failure, false,
                  [&](std::string_view line) { a->log_tail.emplace_back(line); }, nullptr);
  for (auto it = a->services.rbegin(); it != a->services.rend(); ++it)
    if (it->started) engine_->Remove(it->plan.workload, 0);
  // What was stopped first comes back as the live release ran it.
  for (auto& svc : a->services) {
    if (!svc.stopped_previous) continue;
    Status s = RestartRecorded(a->release.app, *svc.previous, a->previous_services.size());
    if (!s.ok())
      std::fprintf(stderr, "bimd: warning: cannot start %s again after a failed release: %s\n",
                   svc.previous->workload.c_str(), s.message().c_str());
  }
  for (const auto& svc : a->services)
    if (svc.built) images_->RemoveImage(svc.plan.image_tag, false);
  a->release.status = release_status::kFailed;
  // Never an empty reason: a failure must be diagnosable from `bim releases` and bimd's log alone.
  a->release.failure_reason = why.message().empty() ? std::string("failed (") + why.CodeName() + ")" : why.message();
  a->release.finished_at_ms = NowMillis();
  a->release.total_ms = MonotonicMillis() - a->started_ms;
  // Kept with the release (for the dashboard and `bim releases --json`), capped like the reason's source.
  a->release.log_tail.clear();
  for (const auto& line : a->log_tail) {
    if (a->release.log_tail.size() + line.size() > kMaxStoredLogTail) break;
    a->release.log_tail += line + "\n";
  }
  Status recorded = a->release.id ? store_->UpdateRelease(a->release) : Status::OK();
  std::fprintf(stderr, "bimd: %s %s (%s) failed after %lld ms: %s%s\n", a->release.app.c_str(),
               ReleaseName(a->release.version).c_str(), a->release.kind.c_str(),
               static_cast<long long>(a->release.total_ms), a->release.failure_reason.c_str(),
               recorded.ok() ? "" : (" (and recording the failure failed: " + recorded.message() + ")").c_str());
}

void Deployer::ScheduleRetire(const std::string& workload, std::vector<Endpoint> backends, bool drain,
                              int grace_seconds) {
  long long now = MonotonicMillis();
  {
    std::lock_guard<std::mutex> lock(retire_mu_);
    long long settle = drain ? options_.drain_settle.count() : 0, grace = drain ? options_.drain_grace.count() : 0;
    retire_queue_.push_back({workload, std::move(backends), drain,
                             grace_seconds >= 0 ? grace_seconds : options_.stop_timeout_seconds, now + settle,
                             now + grace});
  }
  retire_cv_.notify_all();
}

void Deployer::RetireLoop() {
  std::unique_lock<std::mutex> lock(retire_mu_);
  long long next_cgroup_sweep = 0;
  for (;;) {
    retire_cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (shutting_down_) return;  // leftovers are removed by Reconcile on the next start
    long long now = MonotonicMillis();
    // Cgroups of builds that ended while Docker still held them.
    if (!stale_cgroups_.empty() && now >= next_cgroup_sweep) {
      next_cgroup_sweep = now + 500;
      std::erase_if(stale_cgroups_, [this](const std::string& name) {
        return BuildCgroup::RemoveNamed(options_.cgroup_root, name);
      });
    }
    if (retire_queue_.empty()) continue;
    // Ask the router once for every backend still waiting, then retire each workload whose backends
    // have nothing in flight (their requests are done) or whose grace has run out.
    std::vector<Endpoint> asked;
    for (const auto& r : retire_queue_)
      if (now >= r.not_before_ms) asked.insert(asked.end(), r.backends.begin(), r.backends.end());
    std::vector<int64_t> counts;
    lock.unlock();
    bool known = !asked.empty() && router_->InFlight(asked, &counts).ok();
    lock.lock();
    std::map<Endpoint, int64_t> busy;
    if (known)
      for (size_t i = 0; i < asked.size(); ++i) busy[asked[i]] += counts[i];
    std::vector<Retirement> due;
    for (auto it = retire_queue_.begin(); it != retire_queue_.end();) {
      bool drained = known && now >= it->not_before_ms && !it->backends.empty();
      for (const auto& b : it->backends) drained = drained && busy.count(b) && busy[b] == 0;
      if (now >= it->deadline_ms || drained) {
        due.push_back(std::move(*it));
        it = retire_queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (due.empty()) continue;
    lock.unlock();
    for (const auto& r : due) engine_->Remove(r.workload, r.grace_seconds);
    lock.lock();
  }
}

}  // namespace bim
