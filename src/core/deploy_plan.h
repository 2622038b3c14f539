// DeployPlan: what one release will do, computed from its inputs with no I/O (Ninja's Plan, apart
// from the Deployer that carries it out). Keeping this pure means the names, labels and env a release
// gets are unit-tested and identical whether the release came from a deploy, a rollback or an env
// change.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/app_config.h"
#include "core/app_services.h"
#include "core/dotenv.h"

namespace bim {

// Label keys bim puts on every container and image it creates. Reconcile and cleanup find bim's
// objects by these, never by name patterns.
namespace labels {
inline constexpr const char* kManaged = "im.backend.bim.managed";    // "true"
inline constexpr const char* kInstance = "im.backend.bim.instance";  // the bimd data dir's instance id
inline constexpr const char* kApp = "im.backend.bim.app";
inline constexpr const char* kRelease = "im.backend.bim.release";    // "v3": the release that started it
inline constexpr const char* kService = "im.backend.bim.service";    // "web", "worker", ...
inline constexpr const char* kVolume = "im.backend.bim.volume";      // on volumes: the app's name for it
}  // namespace labels

// The repository of an app's images: "bim/<app>", tagged "v<N>" per release.
inline constexpr const char* kImageRepository = "bim";

// One service of a release: what to build or run, under which names, and how it is reached.
struct ServicePlan {
  std::string service;
  std::string workload;        // "bim-<app>-v3" for the main HTTP service, "bim-<app>-v3-<service>" for others
  std::string image_tag;       // built: "bim/<app>:v3" (main) or "bim/<app>:v3-<service>"; else the image to run
  bool build = false;          // true: build image_tag from the upload
  std::map<std::string, std::string> labels;  // the release labels plus kService
  std::vector<std::string> env;               // "KEY=VALUE", in the spec's order
  std::string route;           // the route key of an HTTP service: "<app>" (main) or "<app>.<service>"; "" if none
  std::vector<std::string> server_names;      // the host names that route serves
  std::vector<ComposeVolume> volumes;         // source = the engine's volume name (VolumeName)
};

struct ReleaseInputs {
  AppConfig config;            // validated app settings (name, port, health)
  int64_t version = 0;         // the release number the store assigned
  EnvList env;                 // the env the container gets (used when `services` is empty)
  // What the release runs. Empty: the plain app of config and env (PlainAppServices).
  AppServices services;
  // Services whose image already exists (rollback, env change): service -> image tag to run.
  std::map<std::string, std::string> images;
  std::string domain;          // bimd's --domain
  std::string instance_id;     // bimd's instance id
  std::string public_port;     // "" for port 80, else ":8080": how the URL is printed
  std::string image_tag;       // for rollback/env releases of a plain app: the existing image to run; "" to build
};

// The fields outside `services` describe the main HTTP service (the whole app, for a plain app).
struct ReleasePlan {
  std::string release_name;    // "v3"
  std::vector<ServicePlan> services;  // in start order
  std::string network;         // the app's private network (AppNetworkName)
  std::string image_tag;       // "bim/<app>:v3" (built) or ReleaseInputs::image_tag (reused)
  bool build = true;           // false when an existing image is reused
  std::string container_name;  // "bim-<app>-v3"
  std::map<std::string, std::string> labels;
  std::vector<std::string> container_env;  // "KEY=VALUE", in the order of ReleaseInputs::env
  int container_port = 8080;
  std::string health_path;
  std::chrono::milliseconds health_timeout{30000};
  std::string server_name;     // "<app>.<domain>"
  std::string url;             // "http://<app>.<domain>[:port]/"
};

// Computes the plan. Inputs must already be validated (validate.h); this function cannot fail.
ReleasePlan PlanRelease(const ReleaseInputs& in);

// Where apps are served: the one home of these rules, used by plans, status, history and bimd's banner.
// The host name nginx routes on: "<app>.<domain>".
std::string AppHost(const std::string& app, const std::string& domain);
// The port part of app URLs for nginx's HOST:PORT listen address: "" for port 80, else ":PORT".
std::string PublicPortSuffix(const std::string& http_listen);
// An app's public URL: "http://<app>.<domain>[:port]/", with public_port from PublicPortSuffix.
std::string AppUrl(const std::string& app, const std::string& domain, const std::string& public_port);

// The app's private network, on which its services reach each other by service name.
std::string AppNetworkName(const std::string& instance_id, const std::string& app);
// The engine's name of an app's named volume: "bim-<instance>-<app>.<volume>" (app names have no '.',
// so no two apps' volumes can share a name).
std::string VolumeName(const std::string& instance_id, const std::string& app, const std::string& volume);
// The route key of a service: the app's name for its main service, "<app>.<service>" for others.
std::string ServiceRouteKey(const std::string& app, const ServiceSpec& spec);

// "v3" for 3.
std::string ReleaseName(int64_t version);
// Parses "v3" or "3" into 3. Returns InvalidArgument otherwise.
Status ParseReleaseName(const std::string& text, int64_t* version);

}  // namespace bim
