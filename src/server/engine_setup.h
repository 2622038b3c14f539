// Which Engine bimd runs apps on (ServerOptions::engine), built with what it needs: one host over
// bimd's own dockerd, or Docker Swarm with the registry bimd runs for it.
#pragma once

#include <memory>

#include "docker/docker_client.h"
#include "docker/engine.h"
#include "docker/local_engine.h"
#include "server/options.h"
#include "swarm/registry.h"

namespace bim {

struct EngineSetup {
  std::unique_ptr<Registry> registry;  // Swarm only
  std::unique_ptr<Engine> engine;
};

// Resolves options->engine: "auto" becomes "swarm" when the dockerd at options->docker_socket is an
// active Swarm manager, else "local". On Swarm, fills in options->registry_listen (default: the
// manager's Swarm address, port 5000), starts (or adopts) the registry under <data_dir>/registry,
// and builds a SwarmEngine; else a LocalEngine with `local` (its network firewall; tenants' network
// isolation applies on one host only). FailedPrecondition naming the fix when "swarm" was
// asked for and the dockerd is not a manager of an active swarm, or the registry cannot start.
// `docker` must outlive the engine.
Status SetUpEngine(ServerOptions* options, DockerClient* docker, const LocalEngineOptions& local, EngineSetup* out);

}  // namespace bim
