// ReleaseWatch: keeps watching releases after they went live, for a window, and decides whether each
// one failed. A release fails its watch when an instance of its workload exits (the engine's "died"
// event, or the engine reporting it restarted or stopped) or when `failures_to_fail` health checks in
// a row fail. When the window passes without that, the release passed. The watch only observes and
// decides; its owner (the Deployer) acts on the verdict: it rolls back to the release it kept on
// standby, or retires that standby.
//
// Thread-safety: every method may be called from any thread. Verdicts are delivered on the watch's own
// thread, one at a time, never while its mutex is held, so the callback may call End/Progress. A watch
// gets at most one verdict, and none after End.
// Ownership: the Engine and the probe must outlive the ReleaseWatch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/endpoint.h"
#include "docker/engine.h"

namespace bim {

struct WatchOptions {
  std::chrono::milliseconds check_interval{1000};  // how often each backend's health path is probed
  std::chrono::milliseconds probe_timeout{2000};   // each probe's own timeout
  int failures_to_fail = 3;                        // failed checks in a row that fail the release
  // An instance the engine already restarted (seen by inspection) runs again and no longer shows its exit
  // code; its "died" event carries it. The watch waits this long for that event before failing the
  // release without the code.
  std::chrono::milliseconds died_event_grace{1000};
};

// One watched release.
struct WatchTarget {
  std::string app;
  int64_t version = 0;
  std::string workload;              // the release's workload
  std::vector<Endpoint> backends;    // what the route points at
  std::string health_path = "/";
  long long until_ms = 0;            // wall clock (NowMillis): the end of the window
};

struct WatchVerdict {
  bool failed = false;
  std::string reason;                // e.g. "it exited with code 3", "3 health checks in a row failed: ..."
  nlohmann::json evidence;           // {"exit_code", "restarts", "checks": [...]}; the owner adds log lines
  long long detected_ms = 0;         // monotonic (MonotonicMillis) when the failure was noticed
};

// Where a watch stands, for `bim status`.
struct WatchProgress {
  int64_t version = 0;
  long long left_ms = 0;
  int failures = 0;                  // failed checks in a row so far
  int checks = 0;                    // checks done
};

// Probes one endpoint's health path (the Deployer's HealthProbe).
using WatchProbe = std::function<Status(const Endpoint& at, const std::string& path, std::chrono::milliseconds timeout)>;

class ReleaseWatch {
 public:
  using OnVerdict = std::function<void(const WatchTarget& target, const WatchVerdict& verdict)>;
  ReleaseWatch(WatchOptions options, Engine* engine, WatchProbe probe, OnVerdict on_verdict);
  // Stops the thread. Watches in progress get no verdict (bimd resumes them from the store at start).
  ~ReleaseWatch();
  ReleaseWatch(const ReleaseWatch&) = delete;
  ReleaseWatch& operator=(const ReleaseWatch&) = delete;

  // Starts watching `target` until target.until_ms, replacing any watch of the same app.
  void Watch(WatchTarget target);
  // Stops the app's watch without a verdict. False if it had none (or its verdict is being delivered).
  bool End(const std::string& app);
  // An engine event: a watched workload's instance that died fails its release at once.
  void Notice(const InstanceEvent& event);
  // The app's watch in progress. False if none.
  bool Progress(const std::string& app, WatchProgress* out) const;

 private:
  struct Active {
    WatchTarget target;
    long long next_check_ms = 0;     // monotonic
    int failures = 0;
    int checks = 0;
    int restarts_at_start = -1;      // the engine's restart count when the watch began
    nlohmann::json recent_checks = nlohmann::json::array();  // the last few check results
    bool died = false;
    int exit_code = 0;
    long long died_ms = 0;
    long long restart_seen_ms = 0;   // monotonic: when inspection first saw a restart (0: not yet)
  };
  void Run();
  // One round over `a` (a copy, checked without the lock); fills *verdict when it is decided.
  bool Check(Active* a, WatchVerdict* verdict);

  const WatchOptions options_;
  Engine* engine_;
  WatchProbe probe_;
  OnVerdict on_verdict_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, Active> active_;  // by app
  std::thread thread_;
};

}  // namespace bim
