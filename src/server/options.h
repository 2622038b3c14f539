// ServerOptions: every knob bimd has, with its default, in one place (Ninja's BuildConfig). main.cpp
// fills it from flags; tests fill it directly. Settings of a lower layer's own options struct are not
// repeated here with a second default: they are nested (ContextLimits) or refer to that layer's
// constant (kDefaultDockerSocket).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "docker/docker_client.h"
#include "docker/local_engine.h"
#include "http/http_options.h"
#include "proxy/nginx_process.h"
#include "server/acme.h"
#include "server/cert_manager.h"
#include "server/context_check.h"

namespace bim {

struct ServerOptions {
  std::string data_dir = "/var/lib/bim";        // database, tokens, nginx prefix, uploads
  std::string listen = "127.0.0.1:7878";         // the API
  // The nginx that serves the apps, with its own defaults (proxy/nginx_process.h): nginx.listen is
  // where apps are served over HTTP, nginx.https_listen over TLS for apps' custom domains ("" =
  // nowhere; certificates are still obtained and kept), nginx.template_dir ("" = the installed or
  // source templates/nginx), nginx.nginx_binary, nginx.worker_shutdown_timeout_seconds. main.cpp
  // sets nginx.prefix (<data_dir>/nginx) and nginx.acme_challenge; the rest is used as given.
  NginxOptions nginx;
  // The ACME account (acme.email "" = no ACME: only `bim certs add`), and how certificates are
  // renewed and retried. acme.state_dir / certs.certs_dir default under data_dir.
  AcmeOptions acme;
  CertManagerOptions certs;
  std::string domain = "localhost";              // apps are <app>.<domain>
  std::string docker_socket = kDefaultDockerSocket;

  // Where apps run. "auto": on Docker Swarm when the dockerd at docker_socket is an active Swarm
  // manager, else on this one host; "swarm" insists on the swarm (bimd refuses to start without one);
  // "local" never uses it. main.cpp resolves "auto" to "swarm" or "local" before anything starts.
  std::string engine = "auto";
  // On Swarm, the registry bimd runs so every node can pull what it builds: "ADDR:PORT" it listens on
  // ("" = the manager's Swarm address, port 5000). Each node's dockerd must trust it (README).
  std::string registry_listen;
  std::string registry_binary = "docker-registry";
  // How often the Swarm engine reads tasks and nodes to follow them (a task moved, a node down).
  std::chrono::milliseconds swarm_poll_interval{500};

  // Health gate: how often a starting release is probed (fast, so traffic follows within ~0.1 s of
  // its first healthy answer), each probe's own timeout, and how often the engine is asked whether
  // its instances crashed meanwhile (slower: that is a call to dockerd).
  std::chrono::milliseconds health_interval{20};
  std::chrono::milliseconds health_probe_timeout{2000};
  std::chrono::milliseconds health_inspect_interval{250};
  // A crashed instance that its restart policy already started again reports exit code 0; its real
  // code comes with the engine's "died" event, awaited this long before saying "exit code 0".
  std::chrono::milliseconds exit_event_wait{1000};
  // A service with neither an HTTP port nor a healthcheck (a worker) counts as started once it has
  // run this long without exiting or restarting.
  std::chrono::milliseconds service_settle{2000};
  // Drain: the previous release is removed once the router counts no request in flight to it, but
  // not before drain_settle (a request that read the old route just before the switch is counted
  // within microseconds) and not after drain_grace (long-lived connections are cut then). Then
  // SIGTERM, SIGKILL after stop_timeout.
  std::chrono::milliseconds drain_settle{100};
  std::chrono::milliseconds drain_grace{10000};
  int stop_timeout_seconds = 10;
  // How often bimd checks that nginx's master runs (and takes over / restarts it if not).
  std::chrono::milliseconds nginx_check_interval{1000};

  // Watch after the switch: a deployed (or env-changed) release is watched this long unless its
  // bim.toml says otherwise ([health] watch; 0 = off). Meanwhile the release it replaced keeps running
  // out of routing; if the new one exits or fails watch_failures health checks in a row (one every
  // watch_check_interval), traffic goes back to the old one and the new one is recorded as failed.
  std::chrono::milliseconds watch_window{60000};
  std::chrono::milliseconds watch_check_interval{1000};
  int watch_failures = 3;

  int keep_releases = 5;                         // images kept per app for rollback; older ones are pruned
  int64_t max_upload_bytes = int64_t{1} << 30;   // 1 GiB build context (compressed, as uploaded)
  ContextLimits context_limits;                  // entries and unpacked size of a build context
  int log_lines_on_failure = 20;                 // container log lines shown when a release fails
  // Build contexts kept per app so that deploys send only changed files (ContextStore): the recent
  // contexts of the last keep_releases releases and the next, within this many bytes per app.
  int64_t max_context_store_bytes = int64_t{2} << 30;
  int64_t max_manifest_bytes = int64_t{64} << 20;  // a context's file list (one line per file)

  // TLS for the API. Both set: serve HTTPS. bimd refuses a non-loopback `listen` without TLS unless
  // `insecure` is set (a token sent in clear text over a network is as good as published).
  std::string tls_cert;                          // PEM certificate (chain) file
  std::string tls_key;                           // PEM private key file
  bool insecure = false;

  // The API's HTTP limits: connections, header deadline and size, body sizes, timeouts, worker
  // pool and queue, per-client request cap, streams (defaults and what each protects: http_options.h).
  HttpServerOptions http;
  // Long-lived answers one app-scoped token may have at once (admin-level tokens are exempt; all are
  // bounded by http.max_streams): `bim logs` streams, and releases (deploy, rollback, env change)
  // running or waiting for the app's lock.
  int max_log_streams_per_token = 4;
  int max_releases_per_token = 2;

  // Tenants (README "Security"). Every app builds and runs on its own Docker network, which the
  // firewall (docker/network_firewall.h) keeps away from the host itself and from `blocked_egress`.
  bool isolate_networks = true;                  // false: apps share Docker's default bridge (no firewall)
  // How apps run on one host (docker/local_engine.h): the subnet pool app networks are carved from
  // (local_engine.app_subnet_pool, --app-subnets) and each one's size. main.cpp sets the firewall.
  LocalEngineOptions local_engine;
  std::vector<std::string> blocked_egress = {"169.254.0.0/16"};  // link-local: cloud metadata services
  std::string iptables_binary = "iptables";
  std::string cgroup_root = "/sys/fs/cgroup";    // where a build's pids limit is set up (cgroupfs driver)

  // Each app container: the limits it gets unless its bim.toml [resources] asks otherwise, and the
  // most that [resources] may ask for (a request above is refused).
  ResourceLimits container_limits{int64_t{1} << 30, 1'000'000'000, 512};
  ResourceLimits max_container_limits{int64_t{8} << 30, 0, 8192};  // nano_cpus 0: up to every CPU here
  std::string log_max_size = "10m";              // Docker json-file rotation: the most a container's log
  int log_max_files = 3;                         // holds on disk is log_max_size x log_max_files
  // Each build: the limits of its steps (nano_cpus 0: every CPU), and its deadline (bim.toml's
  // [build] timeout may only shorten it). A build past its deadline is stopped and the release fails.
  ResourceLimits build_limits{int64_t{2} << 30, 0, 1024};
  std::chrono::milliseconds build_timeout{15 * 60 * 1000};
  // A stream (deploy, logs) with nothing to say writes {"event":"heartbeat"} this often, because a
  // vanished client is only noticed when a write to it fails (and then the deploy is cancelled).
  std::chrono::milliseconds stream_heartbeat{2000};
  // The dashboard at /ui/ (ui_routes.cpp): its bounds.
  struct Ui {
    size_t max_sessions = 1000;                             // logins kept; the oldest goes beyond this
    std::chrono::milliseconds session_ttl{12 * 3600 * 1000};  // a login lasts this long
    int max_log_streams = 8;                                // live-logs pages following at once (each holds a stream thread, never a worker)
    std::chrono::milliseconds log_stream_max{10 * 60 * 1000};  // one stream's length; the browser then reconnects
    int log_tail = 200;                                     // lines the live-logs page starts with
    int max_apps_described = 200;                           // apps whose container state the apps page asks the engine for
    int releases_shown = 50;                                // newest releases on an app's page
    int audit_shown = 50;                                   // newest audit entries on an app's page
  } ui;
};

// Where the admin token is written for the operator (mode 0600).
inline std::string AdminTokenPath(const ServerOptions& options) { return options.data_dir + "/admin.token"; }

}  // namespace bim
