// Nginx: bimd's own nginx instance (own prefix, config, pid file and logs under the data dir), and the
// per-app routes in it. Routing is by Host header: one `server {}` per app whose proxy_pass points at
// the live container's loopback port directly. There is deliberately no named `upstream {}` per app:
// nginx adds named upstreams in O(n^2), which makes a reload with 10,000 apps take seconds.
//
// Layout under options.prefix:
//   nginx.conf            rendered from <template_dir>/nginx.conf.mustache
//   apps/<app>.conf       rendered from <template_dir>/app.conf.mustache, one per app
//   nginx.pid, logs/, tmp/
//
// Changing a route is transactional: the new file is written atomically (temp file + rename), the
// whole config is checked with `nginx -t`, and on failure the previous file is put back and nginx's
// own message is returned, so a broken config never goes live. A reload is confirmed by watching the
// master's worker PIDs change (SIGHUP alone returns before anything happened).
//
// Thread-safety: methods serialise on an internal mutex (nginx has one config, so route changes for
// different apps must not interleave their test/reload steps).
#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "base/command_runner.h"

namespace bim {

struct NginxOptions {
  std::string nginx_binary = "nginx";        // looked up in PATH (/usr/sbin on Debian)
  std::string prefix;                        // required: directory owned by this instance
  std::string listen = "127.0.0.1:80";       // where apps are served
  std::string template_dir;                  // required: holds nginx.conf.mustache, app.conf.mustache
  int worker_processes = 2;
  // Old workers still serving long-lived connections after a reload are closed after this long, so
  // frequent deploys cannot pile up generations of workers.
  int worker_shutdown_timeout_seconds = 30;
  std::chrono::milliseconds reload_confirm_timeout{10000};
};

// What one app's server block routes to.
struct Route {
  std::string app;          // validated DNS label
  std::string server_name;  // "<app>.<domain>", validated
  std::string release;      // "v3", written as a comment for humans reading the file
  int upstream_port = 0;    // the live container's port on 127.0.0.1
};

class Nginx {
 public:
  // `runner` must outlive this object.
  Nginx(NginxOptions options, CommandRunner* runner);

  // Brings nginx in line with `routes` (the complete list of live apps): renders nginx.conf, removes
  // half-written temp files left by a crash, rewrites every route file (removing files of apps not
  // listed), then starts the master if it is not running, or reloads it (confirmed) if anything
  // changed. A running nginx whose files already match is not touched, so restarting bimd drops no
  // request. On failure nothing is left running that was not running before, and the error names
  // nginx's message.
  Status Start(const std::vector<Route>& routes);

  // Points the app's route at `route.upstream_port` and reloads (confirmed). On success, if
  // `old_workers` is given, it receives the PIDs of the worker generation that was replaced: requests
  // inside them may still be going to the previous backend until they exit (see WorkersAlive). On
  // failure (template error, `nginx -t` failure, reload not confirmed) the previous route file is
  // restored and the live routing is unchanged.
  Status ApplyRoute(const Route& route, std::set<int>* old_workers = nullptr);

  // True while any of `pids` is still an nginx worker (a retiring generation finishing its requests).
  static bool WorkersAlive(const std::set<int>& pids);

  // Removes the app's route and reloads. OK if it had none.
  Status RemoveRoute(const std::string& app);

  // Asks the master to finish in-flight requests and exit (nginx -s quit). OK if not running.
  Status Stop();

  // The master's PID, or 0 if it is not running.
  int MasterPid() const;
  // The master's current worker PIDs (empty if it is not running).
  std::set<int> CurrentWorkers() const { return WorkerPids(MasterPid()); }

  const NginxOptions& options() const { return options_; }
  std::string RouteFile(const std::string& app) const;

 private:
  Status RenderMainConfig(std::string* out) const;
  Status RenderRoute(const Route& route, std::string* out) const;
  Status TestConfig();
  Status WriteRoutesLocked(const std::vector<Route>& routes, bool* changed);
  Status ReloadLocked(std::set<int>* old_workers = nullptr);
  std::set<int> WorkerPids(int master) const;
  std::vector<std::string> BaseArgs() const;

  NginxOptions options_;
  CommandRunner* runner_;
  std::mutex mu_;
};

}  // namespace bim
