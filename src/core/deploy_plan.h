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
#include "core/dotenv.h"

namespace bim {

// Label keys bim puts on every container and image it creates. Reconcile and cleanup find bim's
// objects by these, never by name patterns.
namespace labels {
inline constexpr const char* kManaged = "im.backend.bim.managed";    // "true"
inline constexpr const char* kInstance = "im.backend.bim.instance";  // the bimd data dir's instance id
inline constexpr const char* kApp = "im.backend.bim.app";
inline constexpr const char* kRelease = "im.backend.bim.release";    // "v3"
}  // namespace labels

// The repository of an app's images: "bim/<app>", tagged "v<N>" per release.
inline constexpr const char* kImageRepository = "bim";

struct ReleaseInputs {
  AppConfig config;            // validated app settings (name, port, health)
  int64_t version = 0;         // the release number the store assigned
  EnvList env;                 // the env the container gets
  std::string domain;          // bimd's --domain
  std::string instance_id;     // bimd's instance id
  std::string public_port;     // "" for port 80, else ":8080": how the URL is printed
  std::string image_tag;       // for rollback/env releases: the existing image to run; "" to build
};

struct ReleasePlan {
  std::string release_name;    // "v3"
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

// "v3" for 3.
std::string ReleaseName(int64_t version);
// Parses "v3" or "3" into 3. Returns InvalidArgument otherwise.
Status ParseReleaseName(const std::string& text, int64_t* version);

}  // namespace bim
