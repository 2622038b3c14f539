// NginxProcess: the life of bimd's own nginx instance (own prefix, config, pid file, control socket),
// apart from what its config says (NginxRouter). It checks a config, starts the master, adopts one that
// runs, takes over from orphaned workers, reloads with confirmation, and stops.
//
// Orphans: if nginx's master is killed while its workers live on, the workers keep serving and keep
// the listening sockets, so a new master cannot bind them. NginxProcess recognises its own orphans
// (processes holding <prefix>/control.sock's listening socket, which only this instance has), copies
// their listening sockets (pidfd_getfd), starts a new master on those very sockets (nginx's inherited
// sockets, the mechanism of its binary upgrade), and then tells the orphans to finish their requests
// and exit (SIGQUIT). Connections never meet a closed port: the sockets stay open throughout.
//
// Thread-safety: not thread-safe; NginxRouter serialises calls. Needs the rights to signal nginx and
// (for a takeover) to ptrace its workers, which root has.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/command_runner.h"
#include "core/status.h"

namespace bim {

struct NginxOptions {
  std::string nginx_binary = "nginx";        // looked up in PATH (/usr/sbin on Debian)
  std::string prefix;                        // required: directory owned by this instance
  std::string listen = "127.0.0.1:80";       // where apps are served
  std::string https_listen;                  // where apps with a certificate are served over TLS; "" = nowhere
  // Where ACME HTTP-01 challenges for every app are forwarded ("127.0.0.1:PORT"); "" = none.
  std::string acme_challenge;
  std::string template_dir;                  // required: nginx.conf.mustache, app.conf.mustache, bim_router.lua
  std::string modules_dir = "/usr/lib/nginx/modules";  // Debian's libnginx-mod-http-{ndk,lua}
  int worker_processes = 2;
  // Old workers still serving long-lived connections after a reload are closed after this long, so
  // frequent site changes cannot pile up generations of workers.
  int worker_shutdown_timeout_seconds = 30;
  // Shared memory for the host and route tables (50,000 apps need about 8 MB each) and in-flight counters.
  std::string hosts_dict_size = "32m";
  std::string routes_dict_size = "32m";
  // With HTTPS: the PEM of every certificate and key in use (nginx's workers run as another user and
  // cannot read bimd's files, so the certificates are data too). About 4 KB per app with one.
  std::string certs_dict_size = "16m";
  std::string inflight_dict_size = "4m";
  int connect_timeout_seconds = 3;           // to a backend; on timeout another backend is tried
  std::chrono::milliseconds reload_confirm_timeout{10000};
  std::chrono::milliseconds control_timeout{5000};  // one call to the control socket
};

class NginxProcess {
 public:
  // `runner` must outlive this object.
  NginxProcess(const NginxOptions& options, CommandRunner* runner);

  // `nginx -t` on the current files. FailedPrecondition naming nginx's first error line.
  Status TestConfig();

  // Makes a master run with the current files: OK at once if one runs (adopted as it is); otherwise
  // takes over from orphaned workers if there are any, else starts a fresh master. Waits until the
  // master has workers. *started tells whether a new master was started.
  Status EnsureRunning(bool* started);

  // SIGHUP, confirmed: OK once a new worker generation runs and every old worker has stopped
  // accepting. DeadlineExceeded if nginx kept its old config (see the error log). Unavailable if no
  // master runs. On success *old_workers (if given) holds the replaced generation.
  Status Reload(std::set<int>* old_workers = nullptr);

  // nginx -s quit: finish in-flight requests, then exit. OK if not running.
  Status Stop();

  // The master's PID, or 0 if it is not running (a dead or zombie process does not count).
  int MasterPid() const;
  // The master's live worker PIDs.
  std::set<int> Workers() const;
  // Workers of this prefix whose master is gone (empty while a master runs).
  std::set<int> Orphans() const;

  // True while any of `pids` is a live process (not a zombie).
  static bool AnyAlive(const std::set<int>& pids);

  // Reloads this object confirmed since it was made (for tests and benches: route changes make none).
  int64_t reloads() const { return reloads_; }

  std::string ControlSocket() const { return options_.prefix + "/control.sock"; }
  const NginxOptions& options() const { return options_; }

 private:
  std::vector<std::string> BaseArgs() const;
  Status StartFresh();
  Status TakeOver(const std::set<int>& orphans);
  Status WaitForWorkers(int* master);

  const NginxOptions options_;
  CommandRunner* runner_;
  std::atomic<int64_t> reloads_{0};
};

}  // namespace bim
