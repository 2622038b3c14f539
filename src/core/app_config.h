// bim.toml: the per-app settings a user keeps in the app folder.
//
//   app = "hello"          # DNS label: [a-z0-9-], 1-63 chars, no leading/trailing '-'
//   port = 8080            # the port the container listens on (1-65535)
//   [health]
//   path = "/healthz"      # default "/"; 2xx/3xx counts as healthy
//   timeout = "30s"        # how long a new release may take to become healthy ("500ms", "30s", "2m")
//   watch = "60s"          # after the switch, watch the release this long and roll back if it dies
//                          # or fails its health checks ("0" turns it off; absent: the server's default)
//   [build]
//   timeout = "10m"        # the build's deadline, within the server's --build-timeout (default: that)
//   [build.args]           # Docker build arguments (ARG in the Dockerfile); names like env keys,
//   BUILDER_IMAGE = "gcc:12"  # values printable strings (no control characters)
//   [resources]            # limits of the app's containers, within the server's maxima
//   memory = "512m"        # default: bimd's --memory
//   cpus = 0.5             # default: bimd's --cpus
//   pids = 256             # processes and threads; default: bimd's --pids
//   [deploy]               # on a cluster (see placement.h)
//   replicas = 3           # 1-100; absent: the app keeps its count (1 when new)
//   placement = ["node.labels.zone==eu"]   # Swarm placement constraints
//   [http]                 # once the app's custom domains have a certificate (bim domains, bim certs)
//   force_https = true     # plain HTTP on those names answers 308 to https:// (default true)
//   hsts = false           # HTTPS answers carry Strict-Transport-Security (default false: opt in)
//
// For a folder with a Compose file (compose.h), which services get HTTP traffic:
//   service = "web"        # the service served at <app>.<domain>; default: the only one with a port
//   port = 8080            # its port; default: the only port in its ports/expose
//   profiles = ["jobs"]    # Compose profiles to deploy (services in other profiles are left out)
//   [routes.admin]         # also serve a service at admin.<app>.<domain> (the table's name)
//   service = "admin"      # default: the table's name
//   port = 9000            # default: the only port in its ports/expose
//   health = "/healthz"    # default "/"
//   domains = ["admin.example.com"]  # more host names for it
//
// Unknown keys are an error (a typo like `prot = 80` must not silently deploy on the default port).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "core/placement.h"
#include "core/status.h"

namespace bim {

struct HealthCheck {
  std::string path = "/";
  std::chrono::milliseconds timeout{30000};
  // How long to watch a release after it went live; nullopt = the server's default, 0 = not watched.
  std::optional<std::chrono::milliseconds> watch;
};

// [resources] of bim.toml: what the app asks for; 0 = the server's default.
struct ResourceRequest {
  int64_t memory_bytes = 0;
  int64_t nano_cpus = 0;   // billionths of a CPU
  int64_t pids = 0;
  bool operator==(const ResourceRequest&) const = default;
};

// [http] of bim.toml: what happens on custom domains once they have a certificate.
struct HttpConfig {
  bool force_https = true;  // plain HTTP redirects (308) to https://, ACME challenges excepted
  bool hsts = false;        // Strict-Transport-Security: max-age=31536000 on HTTPS answers
  bool operator==(const HttpConfig&) const = default;
};

// [routes.NAME]: another route into a Compose app.
struct RouteConfig {
  std::string name;                  // a DNS label: served at <name>.<app>.<domain>
  std::string service;               // "" = the route's name
  int port = 0;                      // 0 = the service's only port
  std::string health_path = "/";
  std::vector<std::string> domains;  // more host names (validated domains)
  bool operator==(const RouteConfig&) const = default;
};
// The longest watch window a bim.toml may ask for.
inline constexpr std::chrono::hours kMaxWatch{24};

struct AppConfig {
  std::string app;  // empty when bim.toml does not name it (the CLI falls back to the folder name)
  int port = 8080;
  bool port_set = false;  // bim.toml (or the deploy request) named the port; else Compose apps take it from the file
  HealthCheck health;
  std::map<std::string, std::string> build_args;  // [build.args]: passed to the image build
  std::chrono::milliseconds build_timeout{0};     // [build] timeout; 0 = the server's --build-timeout
  ResourceRequest resources;
  DeploySettings deploy;                          // [deploy]: replicas and placement
  HttpConfig http;
  std::string service;                 // Compose apps: the service at <app>.<domain> ("" = the one with a port)
  std::vector<std::string> profiles;   // Compose profiles to deploy
  std::vector<RouteConfig> routes;     // [routes.NAME], sorted by name
};

// Checks one route's fields (name, service, port, health path, domains); InvalidArgument naming the
// route and field. Shared by bim.toml and the deploy request, so both refuse the same things.
Status ValidateRouteConfig(const RouteConfig& route);
// Compose profile names: 1-64 characters of [A-Za-z0-9_.-].
Status ValidateProfileName(std::string_view name);

// Parses bim.toml text into `out`; keys absent from the text keep their defaults. On failure returns
// InvalidArgument like "bim.toml: port must be an integer 1-65535 (got \"80a\")" and leaves `out`
// unchanged. Validates the app name, port, health path, timeout (1s..1h) and watch (0..24h).
Status ParseAppConfig(std::string_view toml_text, AppConfig* out);

// Docker build args: the name like an env key (ValidateEnvKey), the value at most 4096 printable bytes
// (no control characters). InvalidArgument naming the arg otherwise; never quotes the value.
Status ValidateBuildArg(std::string_view name, std::string_view value);

// The health timeout's bounds, checked wherever a timeout arrives (bim.toml, the deploy API).
inline constexpr std::chrono::milliseconds kMinHealthTimeout{1000};
inline constexpr std::chrono::milliseconds kMaxHealthTimeout{3600 * 1000};
// OK if kMinHealthTimeout <= timeout <= kMaxHealthTimeout; otherwise InvalidArgument
// "health timeout must be between 1s and 1h (got 500ms)".
Status ValidateHealthTimeout(std::chrono::milliseconds timeout);

// Parses "250ms", "30s", "2m", "1h" (a positive integer and a unit). Returns InvalidArgument otherwise.
Status ParseDuration(std::string_view text, std::chrono::milliseconds* out);

// Formats milliseconds the way ParseDuration reads them back ("30s", "1500ms", "2m").
std::string FormatDuration(std::chrono::milliseconds d);

// Parses "512m", "1g", "256MiB", "1048576" (binary units, as Docker reads them: k = 1024) into bytes.
// InvalidArgument otherwise.
Status ParseByteSize(std::string_view text, int64_t* out);
// Formats bytes the way ParseByteSize reads them back ("512m", "1g", "1536k", "100").
std::string FormatByteSize(int64_t bytes);

}  // namespace bim
