// Watch after the switch: the Deployer's side of ReleaseWatch (starting, ending, resuming watches and
// acting on their verdicts). The rule is in deployer.h's class comment.
#include <algorithm>
#include <thread>

#include "base/file_util.h"
#include "core/deploy_plan.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

json WatchJson(const Watch& w, const WatchProgress* now) {
  json evidence = json::parse(w.evidence, nullptr, false);
  json j{{"release", ReleaseName(w.version)},
         {"state", w.state},
         {"window_ms", w.window_ms},
         {"standby", w.standby_version > 0 ? json(ReleaseName(w.standby_version)) : json(nullptr)},
         {"started_at_ms", w.started_at_ms},
         {"until_ms", w.until_ms},
         {"finished_at_ms", w.finished_at_ms},
         {"reason", w.reason},
         {"evidence", evidence.is_discarded() ? json::object() : evidence}};
  if (now) {
    long long left_s = (now->left_ms + 999) / 1000;
    j["seconds_left"] = left_s;
    j["failures"] = now->failures;
    j["checks"] = now->checks;
    j["summary"] = "watching " + ReleaseName(w.version) + ": " + std::to_string(left_s) + " s left, " +
                   std::to_string(now->failures) + (now->failures == 1 ? " failure" : " failures");
  } else if (w.state == watch_state::kRolledBack) {
    j["summary"] = ReleaseName(w.version) + " was rolled back to " + ReleaseName(w.standby_version) + " after " + w.reason;
  } else {
    j["summary"] = ReleaseName(w.version) + " watch " + w.state + (w.reason.empty() ? "" : ": " + w.reason);
  }
  return j;
}

std::chrono::milliseconds Deployer::WatchWindow(const App& app, const std::string& kind) const {
  // A rollback is not watched: the release it would fall back to is the one the user just rejected.
  // On Swarm there is no watch (yet): Deploy refuses a bim.toml asking for one, bimd's default is 0.
  if (kind == "rollback" || options_.engine == "swarm") return std::chrono::milliseconds(0);
  return app.watch_ms >= 0 ? std::chrono::milliseconds(app.watch_ms) : options_.watch_window;
}

void Deployer::FinishWatch(Watch* w, const std::string& state, const std::string& reason) {
  w->state = state;
  w->reason = reason;
  w->finished_at_ms = NowMillis();
  if (Status s = store_->PutWatch(*w); !s.ok())
    std::fprintf(stderr, "bimd: warning: cannot record the watch of %s %s: %s\n", w->app.c_str(),
                 ReleaseName(w->version).c_str(), s.message().c_str());
  std::lock_guard<std::mutex> lock(watch_mu_);
  watch_cv_.notify_all();
}

void Deployer::RetireStandby(const std::string& app, int64_t version) {
  Release standby;
  if (version <= 0 || !store_->GetRelease(app, version, &standby).ok() || standby.container_name.empty()) return;
  Workload w;
  if (!engine_->Inspect(standby.container_name, &w).ok()) return;  // already gone
  {
    std::lock_guard<std::mutex> lock(routed_mu_);
    auto routed = routed_.find(app);
    if (routed != routed_.end() && routed->second.workload == standby.container_name) return;  // serving again
    // Out of the route first; it goes once what it took over meanwhile is done.
    if (routed != routed_.end() && !routed->second.standby.empty()) {
      Status s = router_->SetRoute(app, routed->second.backends);
      if (s.ok()) routed->second.standby.clear();
      else std::fprintf(stderr, "bimd: warning: %s's standby stays in its route: %s\n", app.c_str(), s.message().c_str());
    }
  }
  ScheduleRetire(standby.container_name, w.RunningEndpoints());
}

void Deployer::EndWatch(const std::string& app, const std::string& why) {
  if (!watch_->End(app)) return;
  App a;
  Release live;
  Watch w;
  if (!store_->GetApp(app, &a).ok() || !store_->GetRelease(app, a.live_version, &live).ok() ||
      !store_->GetWatch(live.id, &w).ok() || w.state != watch_state::kWatching)
    return;
  FinishWatch(&w, watch_state::kEnded, why);
  RetireStandby(app, w.standby_version);
}

void Deployer::OnWatchVerdict(const WatchTarget& target, const WatchVerdict& verdict) {
  std::string busy;
  // Never wait for the app: a release holding it ends this watch by the rule, so act only if free.
  AppLocks::Holder lock = locks_.TryAcquire(target.app, "an automatic rollback", &busy);
  Release watched;
  Watch w;
  if (!store_->GetRelease(target.app, target.version, &watched).ok() || !store_->GetWatch(watched.id, &w).ok() ||
      w.state != watch_state::kWatching)
    return;
  if (!lock.held()) {
    FinishWatch(&w, watch_state::kEnded, busy + " started");
    RetireStandby(target.app, w.standby_version);
    return;
  }
  json evidence = verdict.evidence.is_object() ? verdict.evidence : json::object();
  if (!verdict.failed) {
    w.evidence = evidence.dump();
    FinishWatch(&w, watch_state::kPassed, "");
    RetireStandby(target.app, w.standby_version);
    return;
  }

  // Failed: traffic goes back to the standby release if it still runs and answers, before anything
  // slower (logs, records) is done.
  Release standby;
  Workload sw;
  std::vector<Endpoint> back;
  if (store_->GetRelease(target.app, w.standby_version, &standby).ok() && engine_->Inspect(standby.container_name, &sw).ok())
    back = sw.RunningEndpoints();
  App app;
  std::string health_path = store_->GetApp(target.app, &app).ok() ? app.health_path : "/";
  Status ready = back.empty() ? Status::Unavailable(ReleaseName(w.standby_version) + " is not running") : Status::OK();
  for (const auto& at : back)
    if (ready.ok()) ready = probe_(at, health_path, options_.health_probe_timeout);
  if (ready.ok()) {
    std::lock_guard<std::mutex> routed(routed_mu_);
    ready = router_->SetRoute(target.app, back);
    if (ready.ok()) routed_[target.app] = Routed{standby.container_name, back, health_path, {}};
  }
  long long switched_ms = MonotonicMillis();
  std::vector<std::string> log_tail;
  engine_->Logs(target.workload, options_.log_lines_on_failure, false,
                [&](std::string_view line) { log_tail.emplace_back(line); }, nullptr);
  evidence["log_tail"] = log_tail;
  evidence["detected_at_ms"] = NowMillis() - (MonotonicMillis() - verdict.detected_ms);
  w.evidence = evidence.dump();

  if (!ready.ok()) {
    // Nothing to go back to: the failing release is all there is, so it stays; the record says so.
    w.reason = verdict.reason + "; could not go back to " + ReleaseName(w.standby_version) + ": " + ready.message();
    FinishWatch(&w, watch_state::kUnrecoverable, w.reason);
    AuditEntry audit{0, 0, "bimd (watch)", "rollback", target.app, "failed: " + ready.message(),
                     ReleaseName(target.version) + " failed its watch: " + verdict.reason};
    store_->AppendAudit(&audit);
    return;
  }
  evidence["switched_ms_after_detection"] = switched_ms - verdict.detected_ms;
  w.evidence = evidence.dump();
  w.state = watch_state::kRolledBack;
  w.reason = verdict.reason;
  w.finished_at_ms = NowMillis();
  const std::string failure = "rolled back after " + verdict.reason;
  if (Status s = store_->RollBackWatched(w, failure); !s.ok())
    std::fprintf(stderr, "bimd: warning: %s is back on %s but the database could not record it: %s\n",
                 target.app.c_str(), ReleaseName(w.standby_version).c_str(), s.message().c_str());
  ScheduleRetire(target.workload, target.backends);
  AuditEntry audit{0, 0, "bimd (watch)", "rollback", target.app, "ok",
                   ReleaseName(target.version) + " -> " + ReleaseName(w.standby_version) + ": " + failure};
  store_->AppendAudit(&audit);
  std::fprintf(stderr, "bimd: %s %s %s; %s serves again (%lld ms after the failure was seen)\n", target.app.c_str(),
               ReleaseName(target.version).c_str(), failure.c_str(), ReleaseName(w.standby_version).c_str(),
               static_cast<long long>(switched_ms - verdict.detected_ms));
  if (observer_) {
    EnvList env;
    store_->LoadReleaseEnv(standby.id, &env);
    watched.status = release_status::kFailed;
    watched.failure_reason = failure;
    store_->GetRelease(target.app, w.standby_version, &standby);  // live again
    observer_->OnAutoRollback(watched, standby, env);
  }
  std::lock_guard<std::mutex> notify(watch_mu_);
  watch_cv_.notify_all();
}

Status Deployer::WaitForWatch(const EventSink& events, const CancelCheck& cancelled, DeployOutcome* out) {
  const Release& r = out->release;
  events({{"event", "step"}, {"step", "watch"},
          {"message", "Watching " + ReleaseName(r.version) + " for " +
                          FormatDuration(std::chrono::milliseconds(out->watch.value("window_ms", int64_t{0}))) +
                          "; the previous release stays ready to take over"}});
  Watch w;
  long long next_note = MonotonicMillis() + 5000;
  for (;;) {
    if (!store_->GetWatch(r.id, &w).ok()) return Status::OK();
    if (w.state != watch_state::kWatching) break;
    if (cancelled && cancelled()) return Status::OK();  // the client left; the watch goes on
    WatchProgress now;
    if (MonotonicMillis() >= next_note && watch_->Progress(r.app, &now) && now.version == r.version) {
      events({{"event", "step"}, {"step", "watch"}, {"message", WatchJson(w, &now)["summary"]}});
      next_note = MonotonicMillis() + 5000;
    }
    std::unique_lock<std::mutex> lock(watch_mu_);
    watch_cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
  out->watch = WatchJson(w);
  store_->GetRelease(r.app, r.version, &out->release);
  if (w.state == watch_state::kRolledBack || w.state == watch_state::kUnrecoverable) {
    json evidence = json::parse(w.evidence, nullptr, false);
    out->log_tail.clear();
    if (evidence.is_object() && evidence["log_tail"].is_array())
      for (const auto& line : evidence["log_tail"]) out->log_tail.push_back(line.get<std::string>());
    if (w.state == watch_state::kRolledBack)
      return Status::FailedPrecondition(ReleaseName(r.version) + " was rolled back to " +
                                        ReleaseName(w.standby_version) + " after " + w.reason +
                                        "; its last log lines are below");
    return Status::FailedPrecondition(ReleaseName(r.version) + " failed its watch (" + w.reason +
                                      ") and still serves: redeploy or `bim rollback " + r.app + "`");
  }
  return Status::OK();
}

std::set<std::string> Deployer::ResumeWatches(const std::vector<App>& apps) {
  std::set<std::string> kept;
  std::vector<Watch> watching;
  if (!store_->ListWatches(watch_state::kWatching, &watching).ok()) return kept;
  for (Watch& w : watching) {
    auto app = std::find_if(apps.begin(), apps.end(), [&](const App& a) { return a.name == w.app; });
    Release live, standby;
    Workload sw;
    bool current = app != apps.end() && app->live_version == w.version &&
                   store_->GetRelease(w.app, w.version, &live).ok();
    bool standby_runs = store_->GetRelease(w.app, w.standby_version, &standby).ok() &&
                        engine_->Inspect(standby.container_name, &sw).ok() && !sw.RunningEndpoints().empty();
    std::vector<Endpoint> backends;
    bool resumed = false;
    if (current && standby_runs && NowMillis() < w.until_ms) {
      // The standby goes back into the route (Reconcile routed the live release alone).
      std::lock_guard<std::mutex> lock(routed_mu_);
      if (auto r = routed_.find(w.app); r != routed_.end() && r->second.workload == live.container_name) {
        Routed next = r->second;
        next.standby.clear();
        for (Endpoint e : sw.RunningEndpoints()) next.standby.push_back((e.standby = true, e));
        if ((resumed = router_->SetRoute(w.app, next.Route()).ok())) {
          backends = next.backends;
          r->second = std::move(next);
        }
      }
    }
    if (!resumed) {
      // The window ran out while bimd was stopped (or there is nothing left to go back to): over.
      FinishWatch(&w, current ? watch_state::kPassed : watch_state::kEnded,
                  current ? "" : "bimd was stopped during the watch");
      continue;
    }
    kept.insert(standby.container_name);
    watch_->Watch(WatchTarget{w.app, w.version, live.container_name, backends, app->health_path, w.until_ms});
  }
  return kept;
}

}  // namespace bim
