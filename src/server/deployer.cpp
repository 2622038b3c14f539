// The release flow. Administrative operations (destroy, reconcile, status, logs) are in
// deployer_admin.cpp.
#include "server/deployer.h"

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

struct Deployer::Attempt {
  App app;                     // the app's settings as this release runs them
  std::string network;         // the app's Docker network ("" without network isolation)
  std::string context_path;    // the build context ("" when an existing image is reused)
  std::string image_archive;   // an uploaded image to load instead of building ("" if none)
  std::map<std::string, std::string> build_args;
  EnvList env;                 // what the container runs with
  Release release;
  ReleasePlan plan;
  Release previous;            // the live release being replaced (previous.version == 0: none)
  std::string engine_image;    // the image reference the engine runs (PublishImage)
  std::vector<std::string> placement;  // the app's placement constraints
  std::string workload;        // the started workload's name ("" until started)
  std::vector<Endpoint> backends;  // its healthy endpoints, what the route switches to
  std::vector<Endpoint> replaced_backends;  // what the route pointed at before: drained before retiring
  bool built_image = false;
  std::vector<std::string> log_tail;
  long long started_ms = 0;    // monotonic
  std::chrono::milliseconds watch{0};  // watch window after the switch (0: previous is retired at once)
  bool watched = false;                // the previous release stays on standby (SwitchRoute decided)
};

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
    app->port = request.config.port;
    app->health_path = request.config.health.path;
    app->health_timeout_ms = request.config.health.timeout.count();
    app->resources = request.config.resources;
    app->build_timeout_ms = request.config.build_timeout.count();
    // bim.toml's [deploy]: placement always (it is the whole truth), replicas when it names a count
    // (otherwise the app keeps what `bim scale` set).
    if (request.config.deploy.replicas > 0) app->replicas = request.config.deploy.replicas;
    app->placement = request.config.deploy.placement;
    app->watch_ms = request.config.health.watch ? request.config.health.watch->count() : -1;
    // The rule: the server's stored env (bim env set) first, then the folder's .env on top; a key in
    // both takes the folder's value.
    EnvList stored;
    Status s = store_->GetAppEnv(app->name, &stored);
    if (!s.ok() && !s.IsNotFound()) return s;
    spec->env = stored;
    for (const auto& var : request.env) SetEnv(&spec->env, var.key, var.value);
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
  if (app.live_version > 0) store_->GetRelease(name, app.live_version, &a.previous);
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
  a.build_args = spec.build_args;
  a.env = spec.env;

  a.release.app = name;
  a.release.status = release_status::kBuilding;
  a.release.kind = spec.kind;
  a.release.git_commit = spec.git_commit;
  a.release.git_dirty = spec.git_dirty;
  a.release.source_digest = spec.source_digest;
  a.release.env_digest = store_->DigestEnv(spec.env);
  a.release.context_digest = spec.context_digest;
  a.release.replicas = spec.replicas > 0 ? spec.replicas : std::max(app.replicas, 1);
  a.placement = app.placement;
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
  inputs.env = spec.env;
  inputs.domain = options_.domain;
  inputs.instance_id = instance_id_;
  inputs.public_port = PublicPortSuffix(options_.nginx.listen);
  inputs.image_tag = spec.image_tag;
  a.plan = PlanRelease(inputs);
  a.release.image_tag = a.plan.image_tag;
  a.release.image_id = spec.image_id;
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
  Status s = EnsureAppNetwork(a->release.app, &a->network);
  if (!s.ok()) return s;
  if (a->plan.build && !a->image_archive.empty()) {
    // `bim deploy --build local`: the developer's image, sent as the layers bimd lacked.
    long long t0 = MonotonicMillis();
    a->built_image = true;  // the tag is removed again if the release fails
    if (!(s = LoadImage(a->image_archive, a->release.image_id, a->plan.image_tag, events)).ok()) return s;
    a->release.build_ms = MonotonicMillis() - t0;
  } else if (a->plan.build && !(s = BuildRelease(a, events, cancelled)).ok()) {
    return s;
  }
  if (!(s = engine_->PublishImage(a->plan.image_tag, &a->engine_image)).ok()) return s.Wrap("publishing the image");
  a->release.engine_image = a->engine_image;
  a->release.status = release_status::kStarting;
  store_->UpdateRelease(a->release);

  if (!(s = StartHealthyWorkload(a, events, cancelled)).ok()) return s;
  if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client before the switch");

  events({{"event", "step"}, {"step", "route"}, {"message", "Switching " + a->plan.server_name + " to " +
                                                               a->plan.release_name}});
  if (!(s = SwitchRoute(a)).ok()) return s.Wrap("switching the route");
  Failpoint("switched");

  // The route is live: from here on the release is not failed even if recording it hits an error,
  // and Reconcile makes the database and the router agree after a crash in between.
  if (!(s = store_->ActivateRelease(a->release.app, a->release.version)).ok()) return s;
  a->release.status = release_status::kLive;
  a->release.finished_at_ms = NowMillis();
  a->release.total_ms = MonotonicMillis() - a->started_ms;
  store_->UpdateRelease(a->release);
  Failpoint("live-recorded");
  // Only now may the previous release go: until the new one is recorded live, a crash must find the
  // release the database names still running (Reconcile routes back to it). A watched release keeps
  // it running as its standby until the watch is over (deployer_watch.cpp).
  if (a->watched)
    StartWatch(a);
  else if (a->previous.version > 0 && !a->previous.container_name.empty())
    ScheduleRetire(a->previous.container_name, a->replaced_backends);
  if (observer_) observer_->OnLive(a->release, a->env);
  events({{"event", "step"}, {"step", "live"}, {"message", a->plan.release_name + " is live at " + PublicUrl(a->release.app, a->plan.url)}});
  return Status::OK();
}

Status Deployer::BuildRelease(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  const ResourceLimits& limits = options_.build_limits;
  auto timeout = BuildTimeout(a->app);
  events({{"event", "step"},
          {"step", "build"},
          {"message", "Building image " + a->plan.image_tag + " (deadline " + FormatDuration(timeout) +
                          (limits.memory_bytes > 0 ? ", memory " + FormatByteSize(limits.memory_bytes) : "") +
                          (limits.pids > 0 && build_cgroups_ ? ", " + std::to_string(limits.pids) + " processes" : "") + ")"}});
  Status s = CheckBuildImages(a->release.app, a->context_path, a->build_args);
  if (!s.ok()) return s;
  long long t0 = MonotonicMillis();
  BuildOptions build;
  build.context_tar_path = a->context_path;
  build.tag = a->plan.image_tag;
  build.build_args = a->build_args;
  // Only the labels cleanup needs: the classic builder turns each label into its own LABEL step
  // (an intermediate container each), which costs ~100 ms per label on a cold build.
  build.labels = {{labels::kInstance, a->plan.labels.at(labels::kInstance)},
                  {labels::kApp, a->plan.labels.at(labels::kApp)}};
  build.network = a->network;
  build.limits = {limits.memory_bytes, limits.nano_cpus, 0};
  build.cache_from = CacheSources(a->release.app);
  BuildCgroup cgroup;  // the build's process limit; removed when the build is over
  if (limits.pids > 0 && build_cgroups_) {
    Status c = cgroup.Create(options_.cgroup_root, BuildCgroup::InstancePrefix(instance_id_) + a->plan.container_name,
                             limits.pids);
    if (c.ok()) build.cgroup_parent = cgroup.parent();
    else std::fprintf(stderr, "bimd: warning: building without a process limit: %s\n", c.message().c_str());
  }
  const long long deadline = t0 + timeout.count();
  bool late = false;
  CancelCheck stop = [&] {
    late = MonotonicMillis() >= deadline;
    return late || (cancelled && cancelled());
  };
  std::string image_id;
  s = images_->BuildImage(
      build,
      [&](std::string_view line) {
        Failpoint("build");
        events({{"event", "build"}, {"line", std::string(line)}});
      },
      &image_id, stop);
  // Docker may have tagged an image even if the stream broke off: clean it up on any failure.
  a->built_image = true;
  // A stopped build's container goes away a little later: its cgroup is then removed in the background.
  if (!cgroup.parent().empty() && !cgroup.Remove()) {
    std::lock_guard<std::mutex> lock(retire_mu_);
    stale_cgroups_.push_back(cgroup.Release());
  }
  if (late && !s.ok())
    return Status::FailedPrecondition("the build did not finish within its deadline of " + FormatDuration(timeout) +
                                      " and was stopped (make it faster, or raise [build] timeout in bim.toml, up to "
                                      "bimd's --build-timeout " + FormatDuration(options_.build_timeout) + ")");
  if (!s.ok()) {
    if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client during the build");
    if (s.code() == Code::kFailedPrecondition) return Status::FailedPrecondition("build failed: " + s.message());
    return s.Wrap("build");
  }
  a->release.image_id = image_id;
  a->release.build_ms = MonotonicMillis() - t0;
  return Status::OK();
}

std::vector<Endpoint> Deployer::Routed::Route() const {
  std::vector<Endpoint> all = backends;
  all.insert(all.end(), standby.begin(), standby.end());
  return all;
}

Status Deployer::SwitchRoute(Attempt* a) {
  const std::string& app = a->release.app;
  std::lock_guard<std::mutex> lock(routed_mu_);
  std::vector<Endpoint> before;
  Status s;
  if (a->previous.version == 0) {
    // A first release: the route exists before the site that makes it reachable, so the site's
    // first request already finds its backends. A site the router refuses leaves no route behind.
    if (!(s = router_->SetRoute(app, a->backends)).ok()) return s;
    if (!(s = router_->PutSite(SiteFor(app))).ok()) {
      router_->RemoveRoute(app);
      return s;
    }
  } else {
    // The site normally exists unchanged (PutSite is then a file compare). It is put first, so a
    // site the router refuses fails the release before any traffic moved.
    if (!(s = router_->PutSite(SiteFor(app))).ok()) return s;
    router_->GetRoute(app, &before);  // what to drain; on failure the drain grace decides
    std::erase_if(before, [](const Endpoint& e) { return e.standby; });
  }
  // A watched release keeps the previous one running as its standby until the watch is over.
  Routed next{a->workload, a->backends, {}};
  a->watched = a->previous.version > 0 && a->watch.count() > 0 && !a->previous.container_name.empty();
  if (a->watched)
    for (Endpoint e : before) next.standby.push_back((e.standby = true, e));
  if (a->previous.version > 0 && !(s = router_->SetRoute(app, next.Route())).ok()) return s;
  routed_[app] = std::move(next);
  a->replaced_backends = std::move(before);
  return Status::OK();
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
  watch_->Watch(WatchTarget{w.app, w.version, a->workload, a->backends, a->plan.health_path, w.until_ms});
}

Status Deployer::StartHealthyWorkload(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  int replicas = a->release.replicas;
  events({{"event", "step"},
          {"step", "start"},
          {"message", "Starting " + a->plan.container_name +
                          (replicas > 1 ? " (" + std::to_string(replicas) + " replicas)" : "")}});
  WorkloadSpec spec;
  spec.name = a->plan.container_name;
  spec.image = a->engine_image;
  spec.env = a->plan.container_env;
  spec.labels = a->plan.labels;
  spec.container_port = a->plan.container_port;
  spec.stop_grace_seconds = options_.stop_timeout_seconds;
  if (!a->network.empty()) spec.networks = {NetworkAttachment{a->network, {"web"}}};
  spec.limits = ContainerLimits(a->app);
  spec.logs = LogLimits{options_.log_max_size, options_.log_max_files};
  spec.replicas = a->release.replicas;
  spec.placement = a->placement;
  Workload w;
  Status s = engine_->Start(spec, &w);
  if (!s.ok()) return s;
  a->workload = w.name;
  if (!w.instances.empty()) a->release.container_id = w.instances.front().id;
  store_->UpdateRelease(a->release);

  Failpoint("health");
  auto timeout = a->plan.health_timeout;
  events({{"event", "step"},
          {"step", "health"},
          {"message", "Waiting for GET " + a->plan.health_path + " to answer 2xx/3xx (timeout " +
                          FormatDuration(timeout) + ")"}});
  long long t0 = MonotonicMillis();
  long long deadline = t0 + timeout.count();
  long long next_inspect = t0 + options_.health_inspect_interval.count();
  std::string last = "no answer yet";
  int wanted = std::max(spec.replicas, 1);
  for (;;) {
    if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client during the health check");
    // Every instance with an endpoint is probed; the release is ready when `wanted` of them answer.
    std::vector<Endpoint> healthy;
    for (const Instance& i : w.instances) {
      if (!i.running || i.endpoint.port == 0) continue;
      Status h = probe_(i.endpoint, a->plan.health_path, options_.health_probe_timeout);
      if (h.ok())
        healthy.push_back(i.endpoint);
      else
        last = h.message();
    }
    if (static_cast<int>(healthy.size()) >= wanted) {
      std::sort(healthy.begin(), healthy.end());
      a->backends = healthy;
      a->release.host_port = healthy.front().port;
      a->release.health_ms = MonotonicMillis() - t0;
      store_->UpdateRelease(a->release);
      return Status::OK();
    }
    // Instances that exit (or restart after an exit) will not become healthy: fail fast instead of
    // waiting out the timeout. Asking the engine is a call to it, so not at every probe.
    long long now = MonotonicMillis();
    if (now >= next_inspect || w.instances.empty()) {
      next_inspect = now + options_.health_inspect_interval.count();
      if (engine_->Inspect(a->workload, &w).ok()) {
        for (const Instance& i : w.instances) {
          if (!i.failed) continue;
          if (i.exit_code == 0 && !i.error.empty())  // it never ran, e.g. its host could not get the image
            return Status::FailedPrecondition("release " + a->plan.release_name + " could not start" +
                                              (i.node.empty() ? "" : " on " + i.node) + ": " + i.error +
                                              (i.state == "rejected" ? " (see `bim nodes`)" : ""));
          return Status::FailedPrecondition("release " + a->plan.release_name +
                                            " exited before becoming healthy (exit code " +
                                            std::to_string(LastExitCode(i)) + (i.oom_killed ? ", out of memory" : "") +
                                            "); its last log lines are below");
        }
      }
    }
    if (MonotonicMillis() >= deadline) break;
    std::this_thread::sleep_for(options_.health_interval);
  }
  // An instance the engine could not even start (e.g. Swarm found no node meeting the placement
  // constraints, and keeps it pending) says why better than a probe that never got an answer.
  for (const Instance& i : w.instances) {
    if (i.running || i.error.empty()) continue;
    return Status::FailedPrecondition("release " + a->plan.release_name + " did not become healthy within " +
                                      FormatDuration(timeout) + ": an instance is " + i.state + ": " + i.error +
                                      " (check [deploy] placement in bim.toml and `bim nodes`)");
  }
  return Status::FailedPrecondition("release " + a->plan.release_name + " did not become healthy within " +
                                    FormatDuration(timeout) + ": GET " + a->plan.health_path + " " + last +
                                    " (check the app listens on port " + std::to_string(a->plan.container_port) +
                                    ", or raise [health] timeout in bim.toml)");
}

void Deployer::FailRelease(Attempt* a, const Status& why) {
  if (!a->workload.empty()) {
    engine_->Logs(a->workload, options_.log_lines_on_failure, false,
                  [&](std::string_view line) { a->log_tail.emplace_back(line); }, nullptr);
    engine_->Remove(a->workload, 0);
  }
  if (a->built_image) images_->RemoveImage(a->plan.image_tag, false);
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

void Deployer::ScheduleRetire(const std::string& workload, std::vector<Endpoint> backends) {
  long long now = MonotonicMillis();
  {
    std::lock_guard<std::mutex> lock(retire_mu_);
    retire_queue_.push_back(
        {workload, std::move(backends), now + options_.drain_settle.count(), now + options_.drain_grace.count()});
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
    for (const auto& r : due) engine_->Remove(r.workload, options_.stop_timeout_seconds);
    lock.lock();
  }
}

}  // namespace bim
