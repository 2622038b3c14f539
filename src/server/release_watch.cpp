#include "server/release_watch.h"

#include "base/file_util.h"

namespace bim {

using nlohmann::json;

namespace {
constexpr size_t kChecksKept = 10;  // the last check results kept as evidence
constexpr long long kEventPollMs = 50;  // how soon a restart seen by inspection is looked at again
}  // namespace

ReleaseWatch::ReleaseWatch(WatchOptions options, Engine* engine, WatchProbe probe, OnVerdict on_verdict)
    : options_(options), engine_(engine), probe_(std::move(probe)), on_verdict_(std::move(on_verdict)) {
  thread_ = std::thread([this] { Run(); });
}

ReleaseWatch::~ReleaseWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ReleaseWatch::Watch(WatchTarget target) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Active a;
    a.target = std::move(target);
    a.next_check_ms = MonotonicMillis() + options_.check_interval.count();
    std::string app = a.target.app;
    active_[app] = std::move(a);
  }
  cv_.notify_all();
}

bool ReleaseWatch::End(const std::string& app) {
  std::lock_guard<std::mutex> lock(mu_);
  return active_.erase(app) > 0;
}

void ReleaseWatch::Notice(const InstanceEvent& event) {
  if (event.kind != InstanceEvent::Kind::kDied) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [app, a] : active_) {
      if (a.target.workload != event.workload || a.died) continue;
      a.died = true;
      a.exit_code = event.exit_code;
      a.died_ms = MonotonicMillis();
    }
  }
  cv_.notify_all();
}

bool ReleaseWatch::Progress(const std::string& app, WatchProgress* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(app);
  if (it == active_.end()) return false;
  out->version = it->second.target.version;
  out->left_ms = std::max(0LL, it->second.target.until_ms - NowMillis());
  out->failures = it->second.failures;
  out->checks = it->second.checks;
  return true;
}

void ReleaseWatch::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(50));
    if (stopping_) return;
    long long now = MonotonicMillis(), wall = NowMillis();
    std::vector<Active> due;
    for (const auto& [app, a] : active_)
      if (a.died || now >= a.next_check_ms || wall >= a.target.until_ms) due.push_back(a);
    // Checks (probes, engine calls) run without the lock; a watch ended or replaced meanwhile keeps
    // its new state and gets no verdict from this round.
    lock.unlock();
    for (Active& a : due) {
      WatchVerdict verdict;
      bool decided = Check(&a, &verdict);
      lock.lock();
      auto it = active_.find(a.target.app);
      bool same = it != active_.end() && it->second.target.version == a.target.version &&
                  it->second.target.workload == a.target.workload;
      if (same && it->second.died && !a.died && !(decided && verdict.failed)) decided = false;  // next round
      if (same) {
        it->second.failures = a.failures;
        it->second.checks = a.checks;
        it->second.next_check_ms = a.next_check_ms;
        it->second.restarts_at_start = a.restarts_at_start;
        it->second.restart_seen_ms = a.restart_seen_ms;
        it->second.recent_checks = a.recent_checks;
        if (decided) active_.erase(it);
      }
      lock.unlock();
      if (same && decided) on_verdict_(a.target, verdict);
    }
    lock.lock();
  }
}

bool ReleaseWatch::Check(Active* a, WatchVerdict* verdict) {
  auto fail = [&](std::string reason, long long at) {
    verdict->failed = true;
    verdict->reason = std::move(reason);
    verdict->detected_ms = at;
    verdict->evidence["checks"] = a->recent_checks;
    verdict->evidence["failed_checks_in_a_row"] = a->failures;
    return true;
  };
  if (a->died) {
    verdict->evidence = json{{"exit_code", a->exit_code}};
    long long seen = a->restart_seen_ms ? std::min(a->restart_seen_ms, a->died_ms) : a->died_ms;
    return fail("it exited with code " + std::to_string(a->exit_code), seen);
  }
  long long now = MonotonicMillis();
  if (now >= a->next_check_ms) {
    a->next_check_ms = now + options_.check_interval.count();
    // The engine's view first: an instance that stopped, or that the engine restarted since the watch
    // began, failed even if it answers again now (an event may have been missed).
    Workload w;
    Status s = engine_->Inspect(a->target.workload, &w);
    if (s.IsNotFound()) return fail("its workload " + a->target.workload + " is gone", MonotonicMillis());
    if (s.ok()) {
      int restarts = 0;
      bool running = !w.instances.empty();
      const Instance* down = nullptr;
      for (const auto& i : w.instances) {
        restarts += i.restarts;
        if (!i.running && !down) down = &i;
        running = running && i.running;
      }
      if (a->restarts_at_start < 0) a->restarts_at_start = restarts;
      if (restarts > a->restarts_at_start || down) {
        long long seen = MonotonicMillis();
        if (!down) {  // restarted and running again: its exit code is in the died event, give it a moment
          if (!a->restart_seen_ms) a->restart_seen_ms = seen;
          if (seen - a->restart_seen_ms < options_.died_event_grace.count()) {
            a->next_check_ms = seen + kEventPollMs;
            return false;
          }
          seen = a->restart_seen_ms;
        }
        const Instance& i = down ? *down : w.instances.front();
        verdict->evidence = json{{"exit_code", i.exit_code}, {"restarts", restarts}, {"state", i.state},
                                 {"oom_killed", i.oom_killed}};
        // Seen here before its die event arrived (or the event was missed): worded like the event.
        std::string how = down && i.exit_code == 0 && i.state != "restarting"
                              ? "it stopped (" + i.state + ")"
                              : "it exited with code " + std::to_string(i.exit_code);
        if (!down && i.exit_code == 0) {  // running again, and its died event never came
          how = "it exited (its exit code did not reach bimd)";
          verdict->evidence.erase("exit_code");
        }
        if (i.oom_killed) how += " (out of memory)";
        if (!down) how += " and was restarted";
        return fail(how, seen);
      }
    }
    std::string bad;
    for (const auto& at : a->target.backends) {
      Status h = probe_(at, a->target.health_path, options_.probe_timeout);
      if (!h.ok()) {
        bad = "GET " + a->target.health_path + " on " + at.ToString() + ": " + h.message();
        break;
      }
    }
    ++a->checks;
    a->failures = bad.empty() ? 0 : a->failures + 1;
    a->recent_checks.push_back(json{{"at_ms", NowMillis()}, {"ok", bad.empty()}, {"detail", bad}});
    if (a->recent_checks.size() > kChecksKept) a->recent_checks.erase(a->recent_checks.begin());
    if (a->failures >= options_.failures_to_fail)
      return fail(std::to_string(a->failures) + " health checks in a row failed (" + bad + ")", MonotonicMillis());
  }
  if (NowMillis() >= a->target.until_ms) {
    verdict->failed = false;
    verdict->evidence = json{{"checks", a->checks}};
    return true;
  }
  return false;
}

}  // namespace bim
