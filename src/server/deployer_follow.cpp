// Following a live release's instances after it went live: the engine reports instances that start
// and die (a container restarted, a Swarm task moved to another host, a host went down), and the
// app's routes (its main one and those of its other HTTP services) follow them. A new endpoint is
// routed only once it answers its service's health probe, like a release's endpoints; one that stops
// running (or whose host Swarm reports down) leaves at once.
#include <algorithm>

#include "base/file_util.h"
#include "core/deploy_plan.h"
#include "server/deployer.h"

namespace bim {

void Deployer::WatchEvents() {
  while (!stop_watching_) {
    engine_->WatchEvents(
        {{labels::kInstance, instance_id_}},
        [this](const InstanceEvent& e) {
          if (e.kind == InstanceEvent::Kind::kDied) {
            std::lock_guard<std::mutex> lock(exits_mu_);
            last_exit_[e.instance_id] = {e.exit_code, NowMillis()};
          }
          watch_->Notice(e);  // a watched release whose instance died fails its watch at once
          FollowInstances(e);
        },
        [this] { return stop_watching_.load(); });
    // The stream broke (the engine restarting?): try again shortly.
    for (int i = 0; i < 10 && !stop_watching_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Deployer::FollowInstances(const InstanceEvent& event) {
  auto app = event.labels.find(labels::kApp);
  if (app == event.labels.end()) return;
  std::vector<std::string> keys;  // the app's routes ("<app>", "<app>.<service>") on this workload
  {
    std::lock_guard<std::mutex> lock(routed_mu_);
    for (auto routed = routed_.lower_bound(app->second);
         routed != routed_.end() && routed->first.starts_with(app->second); ++routed) {
      const std::string& key = routed->first;
      bool ours = key == app->second || key.starts_with(app->second + ".");
      if (ours && routed->second.workload == event.workload) keys.push_back(key);
    }
  }
  if (keys.empty()) return;
  {
    std::lock_guard<std::mutex> lock(follow_mu_);
    follow_pending_.insert(keys.begin(), keys.end());
  }
  follow_cv_.notify_all();
}

void Deployer::FollowLoop() {
  std::unique_lock<std::mutex> lock(follow_mu_);
  while (!stop_watching_) {
    // Woken by an event, or after a while to retry instances that were not healthy yet.
    follow_cv_.wait_for(lock, options_.health_inspect_interval * 2);
    std::set<std::string> keys = std::move(follow_pending_);
    follow_pending_.clear();
    lock.unlock();
    std::set<std::string> again;
    for (const auto& key : keys)
      if (!stop_watching_ && RefreshRoute(key)) again.insert(key);
    lock.lock();
    follow_pending_.insert(again.begin(), again.end());
  }
}

bool Deployer::RefreshRoute(const std::string& key) {
  Routed before;
  {
    std::lock_guard<std::mutex> lock(routed_mu_);
    auto routed = routed_.find(key);
    if (routed == routed_.end()) return false;
    before = routed->second;
  }
  std::string health_path = before.health_path;
  if (health_path.empty()) {  // a route recorded without its service's path: the app's
    App app;
    if (!store_->GetApp(key.substr(0, key.find('.')), &app).ok()) return false;
    health_path = app.health_path;
  }
  Workload w;
  if (!engine_->Inspect(before.workload, &w).ok()) return false;
  std::vector<Endpoint> running = w.RunningEndpoints();
  // No running instance at all (a single container restarting): keep the route; the engine brings
  // it back on the same endpoint, and a route to nothing would only turn 502s into 503s.
  if (running.empty()) return false;
  std::vector<Endpoint> healthy;
  bool waiting = false;
  for (const Endpoint& e : running) {
    bool routed = std::find(before.backends.begin(), before.backends.end(), e) != before.backends.end();
    if (routed || probe_(e, health_path, options_.health_probe_timeout).ok())
      healthy.push_back(e);
    else
      waiting = true;
  }
  if (healthy.empty() || healthy == before.backends) return waiting;
  std::lock_guard<std::mutex> lock(routed_mu_);
  auto routed = routed_.find(key);
  // A release switched the route meanwhile: it is newer than what was looked at here.
  if (routed == routed_.end() || routed->second.workload != before.workload) return false;
  Routed next = routed->second;  // a watched release's standby stays in the route
  next.backends = healthy;
  Status s = router_->SetRoute(key, next.Route());
  if (s.ok()) {
    routed->second = std::move(next);
  } else {
    std::fprintf(stderr, "bimd: warning: cannot follow %s's instances: %s\n", key.c_str(), s.message().c_str());
    return true;
  }
  return waiting;
}

}  // namespace bim
