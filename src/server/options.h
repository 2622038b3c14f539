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

  // Health gate: how often a starting release is probed, and each probe's own timeout.
  std::chrono::milliseconds health_interval{100};
  std::chrono::milliseconds health_probe_timeout{2000};
  // How long the previous release keeps running after the route switched away from it, so requests
  // already inside it (and inside old nginx workers) finish. Then SIGTERM, SIGKILL after stop_timeout.
  std::chrono::milliseconds drain_grace{10000};
  int stop_timeout_seconds = 10;
  int nginx_worker_shutdown_timeout_seconds = 30;

  int keep_releases = 5;                         // images kept per app for rollback; older ones are pruned
  int64_t max_upload_bytes = int64_t{1} << 30;   // 1 GiB build context
  int64_t max_upload_entries = 100000;
  int log_lines_on_failure = 20;                 // container log lines shown when a release fails

  // TLS for the API. Both set: serve HTTPS. bimd refuses a non-loopback `listen` without TLS unless
  // `insecure` is set (a token sent in clear text over a network is as good as published).
  std::string tls_cert;                          // PEM certificate (chain) file
  std::string tls_key;                           // PEM private key file
  bool insecure = false;
  int read_timeout_seconds = 30;                 // a client silent this long is dropped (slow clients)
  int64_t max_json_body_bytes = int64_t{1} << 20;  // request bodies of every route but deploy
};

}  // namespace bim
