// ServerOptions: every knob bimd has, with its default, in one place (Ninja's BuildConfig). main.cpp
// fills it from flags; tests fill it directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace bim {

struct ServerOptions {
  std::string data_dir = "/var/lib/bim";        // database, tokens, nginx prefix, uploads
  std::string listen = "127.0.0.1:7878";         // the API
  std::string http_listen = "127.0.0.1:80";      // where nginx serves apps
  std::string domain = "localhost";              // apps are <app>.<domain>
  std::string template_dir;                      // "" = the installed/source templates/nginx
  std::string docker_socket = "/var/run/docker.sock";
  std::string nginx_binary = "nginx";

  // Health gate: how often a starting release is probed (fast, so traffic follows within ~0.1 s of
  // its first healthy answer), each probe's own timeout, and how often the engine is asked whether
  // its instances crashed meanwhile (slower: that is a call to dockerd).
  std::chrono::milliseconds health_interval{20};
  std::chrono::milliseconds health_probe_timeout{2000};
  std::chrono::milliseconds health_inspect_interval{250};
  // A crashed instance that its restart policy already started again reports exit code 0; its real
  // code comes with the engine's "died" event, awaited this long before saying "exit code 0".
  std::chrono::milliseconds exit_event_wait{1000};
  // Drain: the previous release is removed once the router counts no request in flight to it, but
  // not before drain_settle (a request that read the old route just before the switch is counted
  // within microseconds) and not after drain_grace (long-lived connections are cut then). Then
  // SIGTERM, SIGKILL after stop_timeout.
  std::chrono::milliseconds drain_settle{100};
  std::chrono::milliseconds drain_grace{10000};
  int stop_timeout_seconds = 10;
  int nginx_worker_shutdown_timeout_seconds = 30;
  // How often bimd checks that nginx's master runs (and takes over / restarts it if not).
  std::chrono::milliseconds nginx_check_interval{1000};

  int keep_releases = 5;                         // images kept per app for rollback; older ones are pruned
  int64_t max_upload_bytes = int64_t{1} << 30;   // 1 GiB build context
  int64_t max_upload_entries = 100000;
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
  int read_timeout_seconds = 30;                 // a client silent this long is dropped (slow clients)
  int64_t max_json_body_bytes = int64_t{1} << 20;  // request bodies of every route but deploy
};

}  // namespace bim
