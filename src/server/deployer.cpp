// The release flow. Administrative operations (destroy, reconcile, status, logs) are in
// deployer_admin.cpp.
#include "server/deployer.h"

#include <unistd.h>

#include <thread>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "core/deploy_plan.h"
#include "base/health_probe.h"

namespace bim {

using nlohmann::json;

struct Deployer::Attempt {
  std::string context_path;    // the build context ("" when an existing image is reused)
  std::map<std::string, std::string> build_args;
  EnvList env;                 // what the container runs with
  Release release;
  ReleasePlan plan;
  Release previous;            // the live release being replaced (previous.version == 0: none)
  std::string container_id;
  int host_port = 0;
  bool built_image = false;
  std::vector<std::string> log_tail;
  long long started_ms = 0;    // monotonic
};

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
              {"env_digest", r.env_digest},
              {"failure_reason", r.failure_reason},
              {"created_at_ms", r.created_at_ms},
              {"finished_at_ms", r.finished_at_ms},
              {"build_ms", r.build_ms},
              {"health_ms", r.health_ms},
              {"total_ms", r.total_ms}};
}

Deployer::Deployer(const ServerOptions& options, Store* store, DockerClient* docker, Nginx* nginx,
                   std::string instance_id)
    : options_(options), store_(store), docker_(docker), nginx_(nginx), instance_id_(std::move(instance_id)) {
  retirer_ = std::thread([this] { RetireLoop(); });
  exit_watcher_ = std::thread([this] { WatchExits(); });
}

void Deployer::WatchExits() {
  while (!stop_watching_) {
    docker_->WatchContainerExits(
        {{labels::kInstance, instance_id_}},
        [this](const std::string& id, const Labels&, int code) {
          std::lock_guard<std::mutex> lock(exits_mu_);
          last_exit_[id] = {code, NowMillis()};
        },
        [this] { return stop_watching_.load(); });
    // The stream broke (dockerd restarting?): try again shortly.
    for (int i = 0; i < 10 && !stop_watching_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Deployer::~Deployer() {
  stop_watching_ = true;
  exit_watcher_.join();
  {
    std::lock_guard<std::mutex> lock(retire_mu_);
    shutting_down_ = true;
  }
  retire_cv_.notify_all();
  retirer_.join();
}

std::string Deployer::PublicPortSuffix() const {
  size_t colon = options_.http_listen.rfind(':');
  std::string port = colon == std::string::npos ? "80" : options_.http_listen.substr(colon + 1);
  return port == "80" ? "" : ":" + port;
}

std::string Deployer::AppUrl(const std::string& app) const {
  return "http://" + app + "." + options_.domain + PublicPortSuffix() + "/";
}

Status Deployer::Deploy(const DeployRequest& request, const EventSink& events, const CancelCheck& cancelled,
                        DeployOutcome* out) {
  struct Cleanup {
    const std::string& path;
    ~Cleanup() { unlink(path.c_str()); }
  } cleanup{request.context_path};
  ReleaseSpec spec;
  spec.app = request.config.app;
  spec.kind = "deploy";
  spec.actor = request.actor;
  spec.wait = request.wait;
  spec.context_path = request.context_path;
  spec.build_args = request.config.build_args;
  spec.git_commit = request.git_commit;
  auto prepare = [&](App* app, ReleaseSpec* spec) -> Status {
    app->port = request.config.port;
    app->health_path = request.config.health.path;
    app->health_timeout_ms = request.config.health.timeout.count();
    // The rule: the server's stored env (bim env set) first, then the folder's .env on top; a key in
    // both takes the folder's value.
    EnvList stored;
    Status s = store_->GetAppEnv(app->name, &stored);
    if (!s.ok() && !s.IsNotFound()) return s;
    spec->env = stored;
    for (const auto& var : request.env) SetEnv(&spec->env, var.key, var.value);
    return Status::OK();
  };
  return Execute(spec, prepare, events, cancelled, out);
}

Status Deployer::Execute(ReleaseSpec spec, const Prepare& prepare, const EventSink& events,
                         const CancelCheck& cancelled, DeployOutcome* out) {
  const std::string name = spec.app;
  std::string busy_with;
  AppLocks::Holder lock = spec.wait ? locks_.Acquire(name, "a " + spec.kind)
                                    : locks_.TryAcquire(name, "a " + spec.kind, &busy_with);
  if (!lock.held())
    return Status::Conflict("app \"" + name + "\" is busy with " + busy_with +
                            " (wait for it, or drop --no-wait to queue behind it)");

  Attempt a;
  a.started_ms = MonotonicMillis();
  App app;
  Status s = store_->GetApp(name, &app);
  if (s.IsNotFound() && spec.kind == "deploy") {
    app = App();
    app.name = name;
  } else if (!s.ok()) {
    return s;
  }
  if (app.live_version > 0) store_->GetRelease(name, app.live_version, &a.previous);
  if (!(s = prepare(&app, &spec)).ok()) return s;
  if (!(s = store_->PutApp(app)).ok()) return s;
  a.context_path = spec.context_path;
  a.build_args = spec.build_args;
  a.env = spec.env;

  a.release.app = name;
  a.release.status = release_status::kBuilding;
  a.release.kind = spec.kind;
  a.release.git_commit = spec.git_commit;
  a.release.env_digest = EnvDigest(spec.env);
  if (!(s = store_->CreateRelease(&a.release)).ok()) return s;
  if (!(s = store_->SaveReleaseEnv(a.release.id, spec.env)).ok()) return s;

  ReleaseInputs inputs;
  inputs.config.app = name;
  inputs.config.port = app.port;
  inputs.config.health.path = app.health_path;
  inputs.config.health.timeout = std::chrono::milliseconds(app.health_timeout_ms);
  inputs.version = a.release.version;
  inputs.env = spec.env;
  inputs.domain = options_.domain;
  inputs.instance_id = instance_id_;
  inputs.public_port = PublicPortSuffix();
  inputs.image_tag = spec.image_tag;
  a.plan = PlanRelease(inputs);
  a.release.image_tag = a.plan.image_tag;
  a.release.image_id = spec.image_id;
  a.release.container_name = a.plan.container_name;
  store_->UpdateRelease(a.release);
  locks_.Relabel(name, spec.kind + " " + a.plan.release_name);
  events({{"event", "release"}, {"release", a.plan.release_name}, {"app", name}, {"kind", spec.kind}});

  s = RunRelease(&a, events, cancelled);
  if (!s.ok()) FailRelease(&a, s);
  else PruneImages(name);

  AuditEntry audit{0, 0, spec.actor, spec.kind, name, s.ok() ? "ok" : s.message(),
                   a.plan.release_name + (spec.audit_detail.empty() ? "" : " " + spec.audit_detail)};
  store_->AppendAudit(&audit);
  out->release = a.release;
  out->url = a.plan.url;
  out->log_tail = a.log_tail;
  return s;
}

Status Deployer::RunRelease(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  Status s;
  if (a->plan.build) {
    events({{"event", "step"}, {"step", "build"}, {"message", "Building image " + a->plan.image_tag}});
    long long t0 = MonotonicMillis();
    BuildOptions build;
    build.context_tar_path = a->context_path;
    build.tag = a->plan.image_tag;
    build.build_args = a->build_args;
    // Only the labels cleanup needs: the classic builder turns each label into its own LABEL step
    // (an intermediate container each), which costs ~100 ms per label on a cold build.
    build.labels = {{labels::kInstance, a->plan.labels.at(labels::kInstance)},
                    {labels::kApp, a->plan.labels.at(labels::kApp)}};
    std::string image_id;
    s = docker_->BuildImage(
        build,
        [&](std::string_view line) {
          Failpoint("build");
          events({{"event", "build"}, {"line", std::string(line)}});
        },
        &image_id, cancelled);
    // Docker may have tagged an image even if the stream broke off: clean it up on any failure.
    a->built_image = true;
    if (!s.ok()) {
      if (s.code() == Code::kFailedPrecondition) return Status::FailedPrecondition("build failed: " + s.message());
      return s.Wrap("build");
    }
    a->release.image_id = image_id;
    a->release.build_ms = MonotonicMillis() - t0;
  }
  a->release.status = release_status::kStarting;
  store_->UpdateRelease(a->release);

  if (!(s = StartHealthyContainer(a, events, cancelled)).ok()) return s;
  if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client before the switch");

  events({{"event", "step"}, {"step", "route"}, {"message", "Switching " + a->plan.server_name + " to " +
                                                               a->plan.release_name}});
  std::set<int> old_workers;
  Route route{a->release.app, a->plan.server_name, a->plan.release_name, a->host_port};
  if (!(s = nginx_->ApplyRoute(route, &old_workers)).ok()) return s.Wrap("switching the route");
  Failpoint("reloaded");

  // The route is live: from here on the release is not failed even if recording it hits an error,
  // and Reconcile makes the database and nginx agree after a crash in between.
  if (!(s = store_->ActivateRelease(a->release.app, a->release.version)).ok()) return s;
  a->release.status = release_status::kLive;
  a->release.finished_at_ms = NowMillis();
  a->release.total_ms = MonotonicMillis() - a->started_ms;
  store_->UpdateRelease(a->release);
  if (a->previous.version > 0 && !a->previous.container_id.empty())
    ScheduleRetire(a->previous.container_id, std::move(old_workers));
  if (observer_) observer_->OnLive(a->release, a->env);
  events({{"event", "step"}, {"step", "live"}, {"message", a->plan.release_name + " is live at " + a->plan.url}});
  return Status::OK();
}

Status Deployer::StartHealthyContainer(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  events({{"event", "step"}, {"step", "start"}, {"message", "Starting container " + a->plan.container_name}});
  ContainerSpec spec;
  spec.name = a->plan.container_name;
  spec.image = a->plan.image_tag;
  spec.env = a->plan.container_env;
  spec.labels = a->plan.labels;
  spec.container_port = a->plan.container_port;
  spec.stop_timeout_seconds = options_.stop_timeout_seconds;
  Status s;
  // We choose the host port (instead of letting Docker pick) so it survives container restarts:
  // Docker re-allocates ephemeral ports on every start. A port taken between our probe and Docker's
  // bind fails the start; then try another.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (!(s = PickFreeLoopbackPort(&spec.host_port)).ok()) return s;
    s = docker_->CreateContainer(spec, &a->container_id);
    if (s.code() == Code::kConflict) {  // a leftover of a crashed attempt with this name
      docker_->RemoveContainer(spec.name, true);
      s = docker_->CreateContainer(spec, &a->container_id);
    }
    if (!s.ok()) return s.Wrap("creating the container");
    a->release.container_id = a->container_id;
    store_->UpdateRelease(a->release);
    s = docker_->StartContainer(a->container_id);
    if (s.ok()) break;
    docker_->RemoveContainer(a->container_id, true);
    a->container_id.clear();
  }
  if (!s.ok()) return s.Wrap("starting the container");
  a->host_port = spec.host_port;
  a->release.host_port = spec.host_port;
  store_->UpdateRelease(a->release);

  Failpoint("health");
  auto timeout = a->plan.health_timeout;
  events({{"event", "step"},
          {"step", "health"},
          {"message", "Waiting for GET " + a->plan.health_path + " to answer 2xx/3xx (timeout " +
                          FormatDuration(timeout) + ")"}});
  long long t0 = MonotonicMillis();
  long long deadline = t0 + timeout.count();
  std::string last = "no answer yet";
  for (int probe = 0;; ++probe) {
    if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client during the health check");
    Status h = ProbeHealth(a->host_port, a->plan.health_path, options_.health_probe_timeout);
    if (h.ok()) {
      a->release.health_ms = MonotonicMillis() - t0;
      return Status::OK();
    }
    last = h.message();
    // A container that exits (or is restarting after an exit) will not become healthy: fail fast
    // instead of waiting out the timeout.
    ContainerInfo info;
    if (docker_->InspectContainer(a->container_id, &info).ok() && (!info.running || info.restart_count > 0)) {
      return Status::FailedPrecondition("release " + a->plan.release_name +
                                        " exited before becoming healthy (exit code " +
                                        std::to_string(info.exit_code) + (info.oom_killed ? ", out of memory" : "") +
                                        "); its last log lines are below");
    }
    if (MonotonicMillis() >= deadline) break;
    std::this_thread::sleep_for(options_.health_interval);
  }
  return Status::FailedPrecondition("release " + a->plan.release_name + " did not become healthy within " +
                                    FormatDuration(timeout) + ": GET " + a->plan.health_path + " " + last +
                                    " (check the app listens on port " + std::to_string(a->plan.container_port) +
                                    ", or raise [health] timeout in bim.toml)");
}

void Deployer::FailRelease(Attempt* a, const Status& why) {
  if (!a->container_id.empty()) {
    docker_->ContainerLogs(a->container_id, options_.log_lines_on_failure, false,
                           [&](std::string_view line) { a->log_tail.emplace_back(line); });
    docker_->RemoveContainer(a->container_id, true);
  }
  if (a->built_image) docker_->RemoveImage(a->plan.image_tag, false);
  a->release.status = release_status::kFailed;
  a->release.failure_reason = why.message();
  a->release.finished_at_ms = NowMillis();
  a->release.total_ms = MonotonicMillis() - a->started_ms;
  if (a->release.id) store_->UpdateRelease(a->release);
}

void Deployer::ScheduleRetire(const std::string& container_id, std::set<int> old_workers) {
  {
    std::lock_guard<std::mutex> lock(retire_mu_);
    retire_queue_.push_back({container_id, std::move(old_workers), MonotonicMillis() + options_.drain_grace.count()});
  }
  retire_cv_.notify_all();
}

void Deployer::RetireLoop() {
  std::unique_lock<std::mutex> lock(retire_mu_);
  for (;;) {
    retire_cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (shutting_down_) return;  // leftovers are removed by Reconcile on the next start
    // Retire every container whose old nginx workers have exited (their requests are done) or whose
    // grace has run out.
    std::vector<Retirement> due;
    long long now = MonotonicMillis();
    for (auto it = retire_queue_.begin(); it != retire_queue_.end();) {
      if (now >= it->deadline_ms || !Nginx::WorkersAlive(it->old_workers)) {
        due.push_back(std::move(*it));
        it = retire_queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (due.empty()) continue;
    lock.unlock();
    for (const auto& r : due) {
      docker_->StopContainer(r.container_id, options_.stop_timeout_seconds);
      docker_->RemoveContainer(r.container_id, true);
    }
    lock.lock();
  }
}

}  // namespace bim
