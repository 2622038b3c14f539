// The compose suite's test backend: a folder with compose.yaml and bim.toml describing
//   web     hello-server (examples/hello), served at <app>.localhost and admin.<app>.localhost
//   worker  compose-service worker: asks db over the app's network every 300 ms and logs the answer
//   db      compose-service db: appends ticks to /data/db.log on the named volume "data"
// All images are FROM scratch with a static binary (no registry is reachable here). Knobs change one
// service at a time: the web greeting (its env), the worker's and db's version files (their images),
// and failure switches for the worker (exits at start) and web (unhealthy).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "support/bimd_harness.h"

namespace bim::testing {

struct BackendKnobs {
  std::string greeting = "g1";       // web's GREETING (in compose.yaml)
  std::string worker_version = "w1";  // baked into the worker's image
  std::string db_version = "d1";      // baked into the db's image
  int worker_fails = 0;               // FAIL_AT_START exit code for the worker (0: runs)
  int web_health = 200;               // HEALTH_STATUS for web (500: never healthy)
  std::string extra_web_keys;         // YAML lines added under services.web (e.g. unsupported keys)
  std::string extra_db_keys;          // YAML lines added under services.db
};

class ComposeBackend {
 public:
  explicit ComposeBackend(const std::string& app);
  ~ComposeBackend();
  // Rewrites compose.yaml and the version files for `knobs`.
  void Set(const BackendKnobs& knobs);
  const std::string& path() const { return dir_; }
  const std::string& app() const { return app_; }

 private:
  void Write(const std::string& relative, const std::string& contents) const;
  std::string app_;
  std::string dir_;
};

// A running container of the app, by service.
struct ServiceContainer {
  std::string name;
  std::string id;
  std::string image_id;
  bool running = false;
  int restarts = 0;
};
// The app's containers by service label (all, running or not).
std::map<std::string, std::vector<ServiceContainer>> ContainersByService(const std::string& app);

// The subnets of the app's networks ("A.B.C.D/N"), by network name.
std::map<std::string, std::string> AppNetworkSubnets(const std::string& app);

// The members of a tar archive (plain), by name without a leading "./"; directories left out.
std::map<std::string, std::string> TarMembers(const std::string& tar);
// A tar archive (plain) of `files` (name -> contents), entries "./name".
std::string MakeTar(const std::map<std::string, std::string>& files);

// Checks a db.log: starts ("start <version>" lines) and whether the ticks run 1..N with none missing.
struct DbLog {
  std::vector<std::string> starts;
  long ticks = 0;
  bool contiguous = true;
};
DbLog ReadDbLog(const std::string& text);

}  // namespace bim::testing
