// The release steps that run over an app's services: building and resolving their images, deciding
// which ones are unchanged, starting the others in depends_on order and waiting until each is ready.
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "server/auth.h"
#include "server/deployer.h"
#include "server/deployer_attempt.h"
#include "server/sub_context.h"

namespace bim {

using nlohmann::json;

namespace {

// "release v3" for the app's main service (as a plain app's messages always said), "service worker
// of v3" for the others.
std::string Who(const ServiceSpec& spec, const std::string& release_name) {
  return spec.http.main ? "release " + release_name : "service " + spec.name + " of " + release_name;
}

Status SpecOf(const ReleaseService& record, ServiceSpec* spec) {
  Status s = ServiceSpecFromJson(json::parse(record.spec, nullptr, false), spec);
  if (s.ok()) spec->env = record.env;
  return s;
}

}  // namespace

Status Deployer::BuildServices(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  long long t0 = MonotonicMillis();
  for (ServiceAttempt& svc : a->services) {
    if (!svc.plan.build) continue;
    Status s;
    if (svc.spec.http.main && !a->image_archive.empty()) {
      // `bim deploy --build local`: the developer's image, sent as the layers bimd lacked.
      svc.built = true;  // the tag is removed again if the release fails
      if (!(s = LoadImage(a->image_archive, a->image_id, svc.plan.image_tag, events)).ok()) return s;
      svc.image_id = a->image_id;
    } else if (!(s = BuildService(a, &svc, events, cancelled)).ok()) {
      return s;
    }
  }
  a->release.build_ms = MonotonicMillis() - t0;
  return Status::OK();
}

Status Deployer::ResolveImages(Attempt* a, const EventSink& events) {
  for (ServiceAttempt& svc : a->services) {
    Status s;
    if (auto reused = a->reuse.find(svc.spec.name); reused != a->reuse.end()) {
      svc.image_id = reused->second.image_id;
    } else if (!svc.plan.build) {
      // An image the file names (postgres:16): the one on this server, else pulled from its registry.
      ImageInfo info;
      s = images_->InspectImage(svc.plan.image_tag, &info);
      if (s.IsNotFound()) {
        events({{"event", "step"}, {"step", "pull"}, {"message", "Pulling " + svc.plan.image_tag + " for " + svc.spec.name}});
        s = images_->PullImage(svc.plan.image_tag, nullptr, nullptr);
        if (s.ok()) s = images_->InspectImage(svc.plan.image_tag, &info);
        if (!s.ok())
          return Status::FailedPrecondition("service " + svc.spec.name + ": image " + svc.plan.image_tag +
                                            " is not on this server and could not be pulled (" + s.message() +
                                            "); load it with `docker load`, or build it with build:");
      }
      if (!s.ok()) return s;
      svc.image_id = info.id;
    }
    if (!(s = engine_->PublishImage(svc.plan.image_tag, &svc.engine_image)).ok()) return s.Wrap("publishing the image");
  }
  return Status::OK();
}

void Deployer::DecideKept(Attempt* a) {
  // What bim.toml sets for every service (placement, [resources]) goes into each workload too
  // (MakeWorkload): a change there is a change of every service.
  const ResourceLimits limits = ContainerLimits(a->app);
  const std::string app_settings =
      json{{"placement", a->app.placement}, {"limits", {limits.memory_bytes, limits.nano_cpus, limits.pids}}}.dump();
  auto digest_env = [this](const EnvList& env) { return store_->DigestEnv(env); };
  for (ServiceAttempt& svc : a->services) {
    svc.digest = digest_env({{"service", ServiceDigest(svc.spec, svc.image_id, digest_env)}, {"app", app_settings}});
    svc.workload = svc.plan.workload;
    if (!svc.previous || svc.previous->digest != svc.digest) continue;
    // Same image, env and settings: leave it running, if it still runs. A stopped, exited or
    // restarting instance is no reason to do nothing: the service is started again from its image.
    Workload w;
    if (!engine_->Inspect(svc.previous->workload, &w).ok() || w.instances.empty()) continue;
    if (!std::all_of(w.instances.begin(), w.instances.end(), [](const Instance& i) { return i.running; })) continue;
    svc.keep = true;
    svc.workload = svc.previous->workload;
    svc.backends = w.RunningEndpoints();
  }
}

std::vector<ReleaseService> Deployer::ServiceRecords(const Attempt& a) const {
  std::vector<ReleaseService> out;
  for (const ServiceAttempt& svc : a.services)
    out.push_back({svc.spec.name, svc.workload, svc.plan.image_tag, svc.image_id, svc.digest,
                   ServiceSpecJson(svc.spec).dump(), svc.spec.env});
  return out;
}

Status Deployer::PrepareVolumes(const Attempt& a) {
  const std::string& app = a.release.app;
  Labels mine{{labels::kManaged, "true"}, {labels::kInstance, instance_id_}, {labels::kApp, app}};
  Status s;
  for (const ServiceAttempt& svc : a.services) {
    for (const ComposeVolume& v : svc.spec.volumes) {
      Labels labels = mine;
      labels[labels::kVolume] = v.source;
      if (!(s = engine_->EnsureVolume(VolumeSpec{VolumeName(instance_id_, app, v.source), labels})).ok())
        return s.Wrap("creating volume " + v.source);
    }
  }
  return Status::OK();
}

Status Deployer::StartChangedServices(Attempt* a, const EventSink& events, const CancelCheck& cancelled) {
  for (ServiceAttempt& svc : a->services) {
    if (svc.keep) {
      if (a->services.size() > 1)
        events({{"event", "step"}, {"step", "keep"}, {"service", svc.spec.name},
                {"message", "Keeping " + svc.spec.name + " (" + svc.workload + "): unchanged"}});
      continue;
    }
    if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client before the switch");
    if (svc.spec.stop_first && svc.previous) {
      events({{"event", "step"}, {"step", "stop"}, {"service", svc.spec.name},
              {"message", "Stopping " + svc.previous->workload + " first (" + svc.spec.name + " is replaced stop-first)"}});
      ServiceSpec old;
      int grace = SpecOf(*svc.previous, &old).ok() && old.stop_grace_seconds >= 0 ? old.stop_grace_seconds
                                                                                  : options_.stop_timeout_seconds;
      svc.stopped_previous = true;
      Status s = engine_->Remove(svc.previous->workload, grace);
      if (!s.ok()) return s.Wrap("stopping " + svc.previous->workload);
    }
    a->failing = &svc;
    if (Status s = StartHealthyWorkload(a, &svc, events, cancelled); !s.ok()) return s;
    a->failing = nullptr;
  }
  return Status::OK();
}

WorkloadSpec Deployer::MakeWorkload(const App& app, const ServiceSpec& spec, const std::string& name,
                                    const std::string& image, const Labels& labels, const std::string& network) const {
  WorkloadSpec w;
  w.name = name;
  w.image = image;
  for (const auto& var : spec.env) w.env.push_back(var.key + "=" + var.value);
  w.labels = labels;
  w.container_port = spec.http.port;
  w.replicas = spec.replicas;
  w.command = spec.command;
  w.entrypoint = spec.entrypoint;
  for (const auto& v : spec.volumes) w.volumes.push_back({VolumeName(instance_id_, app.name, v.source), v.target, v.read_only});
  if (!network.empty()) w.networks = {NetworkAttachment{network, {spec.name}}};
  // The app's limits (bim.toml [resources] over the server's defaults), the service's own on top.
  w.limits = ContainerLimits(app);
  if (spec.memory_bytes > 0) w.limits.memory_bytes = spec.memory_bytes;
  if (spec.nano_cpus > 0) w.limits.nano_cpus = spec.nano_cpus;
  if (spec.pids > 0) w.limits.pids = spec.pids;
  w.logs = LogLimits{options_.log_max_size, options_.log_max_files};
  w.restart_policy = spec.restart_policy;
  w.placement = app.placement;  // bim.toml [deploy] placement: every service of the app
  w.stop_grace_seconds = spec.stop_grace_seconds >= 0 ? spec.stop_grace_seconds : options_.stop_timeout_seconds;
  if (spec.has_healthcheck)
    w.healthcheck = ContainerHealthcheck{spec.healthcheck.test, spec.healthcheck.interval.count(),
                                         spec.healthcheck.timeout.count(), spec.healthcheck.start_period.count(),
                                         spec.healthcheck.retries};
  return w;
}

Status Deployer::StartHealthyWorkload(Attempt* a, ServiceAttempt* svc, const EventSink& events,
                                      const CancelCheck& cancelled) {
  const ServiceSpec& spec = svc->spec;
  events({{"event", "step"}, {"step", "start"}, {"service", spec.name},
          {"message", "Starting " + svc->plan.workload +
                          (spec.replicas > 1 ? " (" + std::to_string(spec.replicas) + " replicas)" : "")}});
  Workload w;
  Status s = engine_->Start(MakeWorkload(a->app, spec, svc->plan.workload, svc->engine_image, svc->plan.labels, a->network), &w);
  if (!s.ok()) return s;
  svc->started = true;
  if (spec.http.main && !w.instances.empty()) a->release.container_id = w.instances.front().id;
  store_->UpdateRelease(a->release);

  Failpoint("health");
  auto timeout = a->plan.health_timeout;
  std::string what = spec.http.port ? "GET " + spec.http.health_path + " to answer 2xx/3xx"
                     : spec.has_healthcheck ? spec.name + "'s healthcheck to pass"
                                            : spec.name + " to keep running for " + FormatDuration(options_.service_settle);
  events({{"event", "step"}, {"step", "health"}, {"service", spec.name},
          {"message", "Waiting for " + what + " (timeout " + FormatDuration(timeout) + ")"}});
  long long t0 = MonotonicMillis();
  if (!(s = WaitReady(a->plan.release_name, spec, timeout, &w, &svc->backends, cancelled)).ok()) return s;
  if (spec.http.main) {
    a->release.host_port = svc->backends.empty() ? 0 : svc->backends.front().port;
    a->release.health_ms = MonotonicMillis() - t0;
    store_->UpdateRelease(*&a->release);
  }
  return Status::OK();
}

Status Deployer::WaitReady(const std::string& release_name, const ServiceSpec& spec, std::chrono::milliseconds timeout,
                           Workload* w, std::vector<Endpoint>* backends, const CancelCheck& cancelled) {
  const std::string who = Who(spec, release_name);
  long long t0 = MonotonicMillis();
  long long deadline = t0 + timeout.count();
  long long next_inspect = t0 + options_.health_inspect_interval.count();
  long long last_inspect = 0;  // when the engine last said every instance was running (0: not yet)
  std::string last = "no answer yet";
  size_t wanted = static_cast<size_t>(std::max(spec.replicas, 1));
  for (;;) {
    if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client during the health check");
    // Every instance with an endpoint is probed; an HTTP service is ready when `wanted` answer.
    std::vector<Endpoint> healthy;
    if (spec.http.port) {
      for (const Instance& i : w->instances) {
        if (!i.running || i.endpoint.port == 0) continue;
        Status h = probe_(i.endpoint, spec.http.health_path, options_.health_probe_timeout);
        if (h.ok()) healthy.push_back(i.endpoint);
        else last = h.message();
      }
    }
    long long now = MonotonicMillis();
    bool http_ok = !spec.http.port || healthy.size() >= wanted;
    bool checks_ok = w->instances.size() >= wanted;
    for (const Instance& i : w->instances) checks_ok = checks_ok && (!spec.has_healthcheck || i.health == "healthy");
    // Without an HTTP path or a healthcheck, ready means: still running, never restarted, once the
    // settle time has passed (as the engine last saw it).
    bool settled = spec.http.port || spec.has_healthcheck ||
                   (last_inspect > 0 && last_inspect - t0 >= options_.service_settle.count());
    if (http_ok && checks_ok && settled) {
      std::sort(healthy.begin(), healthy.end());
      *backends = healthy;
      return Status::OK();
    }
    // Instances that exit (or restart after an exit) will not become healthy: fail fast instead of
    // waiting out the timeout. Asking the engine is a call to it, so not at every probe.
    if (now >= next_inspect || w->instances.empty() || (!spec.http.port && !spec.has_healthcheck)) {
      next_inspect = now + options_.health_inspect_interval.count();
      if (engine_->Inspect(w->name, w).ok()) {
        bool all_running = !w->instances.empty();
        for (const Instance& i : w->instances) {
          if (i.health == "unhealthy")
            return Status::FailedPrecondition(who + "'s healthcheck failed; its last log lines are below");
          if (!i.failed) {
            all_running = all_running && i.running;  // not started yet, or moving off a host that went down
            continue;
          }
          all_running = false;
          if (i.exit_code == 0 && !i.error.empty())  // it never ran, e.g. its host could not get the image
            return Status::FailedPrecondition(who + " could not start" + (i.node.empty() ? "" : " on " + i.node) +
                                              ": " + i.error + (i.state == "rejected" ? " (see `bim nodes`)" : ""));
          return Status::FailedPrecondition(who + " exited before becoming healthy (exit code " +
                                            std::to_string(LastExitCode(i)) + (i.oom_killed ? ", out of memory" : "") +
                                            "); its last log lines are below");
        }
        if (all_running) last_inspect = MonotonicMillis();
      }
    }
    if (MonotonicMillis() >= deadline) break;
    std::this_thread::sleep_for(spec.http.port ? options_.health_interval : options_.health_inspect_interval);
  }
  // An instance the engine could not even start (e.g. Swarm found no node meeting the placement
  // constraints, and keeps it pending) says why better than a probe that never got an answer.
  for (const Instance& i : w->instances) {
    if (i.running || i.error.empty()) continue;
    return Status::FailedPrecondition(who + " did not become " + (spec.http.port ? "healthy" : "ready") + " within " +
                                      FormatDuration(timeout) + ": an instance is " + i.state + ": " + i.error +
                                      " (check [deploy] placement in bim.toml and `bim nodes`)");
  }
  if (!spec.http.port)
    return Status::FailedPrecondition(who + " did not become ready within " + FormatDuration(timeout) +
                                      (spec.has_healthcheck ? ": its healthcheck did not pass" : "") +
                                      " (raise [health] timeout in bim.toml)");
  return Status::FailedPrecondition(who + " did not become healthy within " + FormatDuration(timeout) + ": GET " +
                                    spec.http.health_path + " " + last + " (check the app listens on port " +
                                    std::to_string(spec.http.port) + ", or raise [health] timeout in bim.toml)");
}

Status Deployer::RestartRecorded(const std::string& app, const ReleaseService& record, size_t services) {
  ServiceSpec spec;
  Status s = SpecOf(record, &spec);
  if (!s.ok()) return s;
  std::string image;
  if (!(s = engine_->PublishImage(record.image_tag, &image)).ok()) return s;
  Labels labels{{labels::kManaged, "true"}, {labels::kInstance, instance_id_}, {labels::kApp, app},
                {labels::kService, spec.name}};
  Workload w;
  App a;
  a.name = app;
  auto timeout = store_->GetApp(app, &a).ok() ? std::chrono::milliseconds(a.health_timeout_ms) : std::chrono::seconds(30);
  std::string network;
  if (!(s = EnsureAppNetwork(app, services, &network)).ok()) return s;
  if (!(s = engine_->Start(MakeWorkload(a, spec, record.workload, image, labels, network), &w)).ok()) return s;
  if (!spec.http.port) return Status::OK();
  std::vector<Endpoint> backends;
  if (!(s = WaitReady("the live release", spec, timeout, &w, &backends, nullptr)).ok()) return s;
  std::string key = ServiceRouteKey(app, spec);
  std::lock_guard<std::mutex> lock(routed_mu_);
  if (!(s = router_->SetRoute(key, backends)).ok()) return s;
  routed_[key] = Routed{record.workload, backends, spec.http.health_path};
  return Status::OK();
}

Status Deployer::LoadServices(const App& app, const Release& r, std::vector<ReleaseService>* out) {
  Status s = store_->LoadReleaseServices(r.id, out);
  if (!s.ok() || !out->empty()) return s;
  // Recorded before releases knew their services: it ran one, "web", in r.container_name.
  EnvList env;
  if (!(s = store_->LoadReleaseEnv(r.id, &env)).ok()) return s;
  AppConfig config;
  config.app = app.name;
  config.port = app.port;
  config.health.path = app.health_path;
  AppServices services;
  if (!(s = PlainAppServices(config, env, &services)).ok()) return s;
  const ServiceSpec& web = services.services[0];
  out->push_back({web.name, r.container_name, r.image_tag, r.image_id, ServiceDigest(web, r.image_id, [this](const EnvList& env) { return store_->DigestEnv(env); }),
                  ServiceSpecJson(web).dump(), env});
  return Status::OK();
}

}  // namespace bim
