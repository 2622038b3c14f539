// AppServices: what a release of an app runs, one ServiceSpec per service. Every release has this
// shape, whatever it came from:
//   - a plain app folder (Dockerfile, no Compose file) is one service, "web", built from the whole
//     folder and served at <app>.<domain> (PlainAppServices);
//   - a Compose app is every active service of its file, with bim.toml saying which of them get HTTP
//     traffic (ComposeAppServices);
//   - a rollback or an env change reuses the specs an earlier release recorded (ServiceSpecFromJson).
// Keeping one shape means the Deployer has one release path, and what "changed" means for a service
// (ServiceDigest) is decided in one place: a service whose image, env and settings are the same as
// the live release's is left running, untouched.
//
// Pure: no I/O. Thread-safety: values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/app_config.h"
#include "core/compose.h"
#include "core/dotenv.h"
#include "core/status.h"

namespace bim {

// How a service is reached from outside the app (through the router). port 0: it is not.
struct ServiceHttp {
  int port = 0;                       // the container port requests go to
  std::string health_path = "/";      // GET here must answer 2xx/3xx before traffic moves to it
  bool main = false;                  // serves <app>.<domain>
  std::vector<std::string> routes;    // also <route>.<app>.<domain> for each ([routes.NAME] of bim.toml)
  std::vector<std::string> domains;   // and these host names
  bool operator==(const ServiceHttp&) const = default;
};

struct ServiceSpec {
  std::string name;                   // "web" for a plain app
  bool build = false;                 // built from the uploaded folder (else `image` is run as is)
  ComposeBuild build_from;            // context and Dockerfile within the folder, build args
  std::string image;                  // image-only services: the reference to run
  std::vector<std::string> command;   // empty: the image's
  std::vector<std::string> entrypoint;
  EnvList env;                        // exactly what the service runs with
  std::vector<ComposeVolume> volumes; // named volumes (the app's volume names, not the engine's)
  std::vector<std::string> depends_on;
  bool has_healthcheck = false;
  ComposeHealthcheck healthcheck;
  std::string restart_policy = "unless-stopped";
  int replicas = 1;
  int64_t memory_bytes = 0;           // 0: no limit of its own
  int64_t nano_cpus = 0;
  int64_t pids = 0;
  bool stop_first = false;            // replaced by stopping the old one first (singletons, data owners)
  int stop_grace_seconds = -1;        // -1: the server's default
  ServiceHttp http;
};

struct AppServices {
  std::vector<ServiceSpec> services;  // in start order: each after the services it depends on
  std::vector<std::string> volumes;   // the app's named volumes
};

// A plain app: service "web" built from the folder's Dockerfile, on config.port, health from config,
// with `env`. bim.toml's Compose settings (service, profiles, routes) must then be empty, except
// routes that name service "web"; InvalidArgument otherwise.
Status PlainAppServices(const AppConfig& config, const EnvList& env, AppServices* out);

// A Compose app. The main service (served at <app>.<domain>) is config.service, else the one service
// with a port; its port is config.port if set, else its one port. Each route of config.routes serves
// its service on the route's port (else that service's one port). `app_env` (the stored env plus the
// folder's .env) is laid over every service's own env. Services with named volumes are replaced
// stop-first unless they say deploy.update_config.order. InvalidArgument naming the fix when bim.toml
// and the file do not say unambiguously which service serves what.
Status ComposeAppServices(const AppConfig& config, const ComposeProject& project, const EnvList& app_env,
                          AppServices* out);

// The service's settings as JSON (everything but env values, which are stored encrypted apart), and
// back. FromJson refuses (InvalidArgument) a document it cannot read.
nlohmann::json ServiceSpecJson(const ServiceSpec& spec);
Status ServiceSpecFromJson(const nlohmann::json& j, ServiceSpec* out);

// What decides whether a service must be restarted: a hex digest of the image it runs, its env and
// every setting the running container has (not its routes or health path, which change without a
// restart). `digest_env` is the keyed env digest (Store::DigestEnv), so a stored digest cannot be used to
// guess env values offline.
using EnvDigester = std::function<std::string(const EnvList& env)>;
std::string ServiceDigest(const ServiceSpec& spec, const std::string& image_id, const EnvDigester& digest_env);

// The spec of `name` in `app`, or nullptr.
const ServiceSpec* FindService(const AppServices& app, const std::string& name);

}  // namespace bim
