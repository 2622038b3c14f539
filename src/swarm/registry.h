// Registry: the image registry bimd runs for its cluster, managed like its nginx. It is Debian's
// `docker-registry` (the CNCF distribution registry), listening on the manager's cluster address, so
// every node of the swarm can pull the images bimd builds. bimd pushes each release's image there
// (Docker sends only the layers the registry lacks) and Swarm's nodes pull it by digest.
//
// Layout under options.dir (bimd uses <data-dir>/registry):
//   config.yml      rendered from <template_dir>/config.yml.mustache on every Start
//   data/           the registry's storage (images survive restarts)
//   secret          the registry's HTTP secret, made once
//   registry.pid, registry.log
//
// The registry outlives bimd, like nginx: stopping bimd leaves it serving so nodes can still pull and
// reschedule tasks; the next bimd adopts it if it runs with the same config, else replaces it.
//
// Thread-safety: Start and Stop must not run concurrently with each other; the accessors are safe
// from any thread.
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"

namespace bim {

struct RegistryOptions {
  std::string binary = "docker-registry";  // Debian's package; looked up in PATH
  std::string dir;                         // required: owned by this registry
  std::string listen;                      // required: "ADDR:PORT" every node can reach
  std::string template_dir;                // required: holds config.yml.mustache
  std::chrono::milliseconds start_timeout{15000};
};

class Registry {
 public:
  explicit Registry(RegistryOptions options);

  // Renders the config and starts the registry, or adopts the one a previous bimd started with the
  // same config; returns once it answers GET /v2/. Unavailable (with the end of its log) if it exits
  // or does not answer within options.start_timeout; FailedPrecondition if the binary is missing.
  Status Start();
  // Stops the registry (SIGTERM, SIGKILL after 5 s). OK if it is not running.
  Status Stop();
  // OK if the registry answers GET /v2/ with 200.
  Status Ping() const;
  // The registry process's pid, or 0 if it does not run.
  int Pid() const;

  const std::string& address() const { return options_.listen; }
  // "<address>/<path>", the repository an image is pushed to, e.g. "10.0.0.1:5000/bim/hello".
  std::string Repository(const std::string& path) const { return options_.listen + "/" + path; }

 private:
  std::string PidFile() const { return options_.dir + "/registry.pid"; }
  std::string ConfigFile() const { return options_.dir + "/config.yml"; }
  Status RenderConfig(std::string* text) const;

  RegistryOptions options_;
};

}  // namespace bim
