#include "server/engine_setup.h"

#include "base/paths.h"
#include "core/endpoint.h"
#include "docker/local_engine.h"
#include "docker/swarm_client.h"
#include "swarm/swarm_engine.h"

namespace bim {

Status SetUpEngine(ServerOptions* options, DockerClient* docker, const LocalEngineOptions& local, EngineSetup* out) {
  if (options->engine != "auto" && options->engine != "swarm" && options->engine != "local")
    return Status::InvalidArgument("--engine must be auto, swarm or local (got \"" + options->engine + "\")");
  SwarmState swarm;
  if (options->engine != "local") {
    if (Status s = SwarmClient(options->docker_socket).Info(&swarm); !s.ok()) return s;
  }
  bool manager = swarm.active() && swarm.is_manager;
  if (options->engine == "swarm" && !manager) {
    if (!swarm.active())
      return Status::FailedPrecondition("--engine swarm: the dockerd at " + options->docker_socket +
                                        " is not in a swarm (swarm state: " + swarm.local_state +
                                        "); run `docker swarm init` on this host first, or use --engine local");
    return Status::FailedPrecondition("--engine swarm: the dockerd at " + options->docker_socket +
                                      " is a swarm worker; run bimd on a manager (`docker node ls` there lists them)");
  }
  if (options->engine == "local" || !manager) {
    options->engine = "local";
    out->engine = std::make_unique<LocalEngine>(docker, local);
    return Status::OK();
  }
  options->engine = "swarm";
  if (options->registry_listen.empty()) options->registry_listen = swarm.node_addr + ":5000";
  Endpoint at;
  if (Status s = ParseEndpoint(options->registry_listen, &at); !s.ok())
    return Status::InvalidArgument("--registry-listen must be ADDRESS:PORT with an IPv4 address every node reaches (got \"" +
                                   options->registry_listen + "\")");
  RegistryOptions registry;
  registry.binary = options->registry_binary;
  registry.dir = options->data_dir + "/registry";
  registry.listen = options->registry_listen;
  registry.template_dir = FindTemplateDir("registry", "config.yml.mustache");
  if (registry.template_dir.empty())
    return Status::NotFound("cannot find templates/registry/config.yml.mustache (reinstall bim)");
  out->registry = std::make_unique<Registry>(registry);
  if (Status s = out->registry->Start(); !s.ok()) return s.Wrap("starting the cluster's registry");
  SwarmEngineOptions engine;
  engine.docker_socket = options->docker_socket;
  engine.poll_interval = options->swarm_poll_interval;
  out->engine = std::make_unique<SwarmEngine>(engine, docker, out->registry.get());
  return Status::OK();
}

}  // namespace bim
