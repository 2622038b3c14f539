// TeardownInstance: `bimd --teardown`. Removes everything one bimd instance put on the host outside
// its data dir, for uninstalling bim and for test runs that must leave nothing behind: its nginx is
// stopped, its containers, images and networks (found by its instance label) are removed, and its
// firewall chains and build cgroups deleted. The data dir itself is kept.
#pragma once

#include <string>

#include "core/status.h"
#include "docker/docker_client.h"
#include "docker/network_firewall.h"
#include "proxy/router.h"
#include "store/store.h"
#include "server/options.h"

namespace bim {

// Best effort: every step runs even if an earlier one failed; the first failure is returned (and each
// is printed to stderr). Must not run while that instance's bimd is running.
Status TeardownInstance(const ServerOptions& options, const std::string& instance_id, DockerClient* docker,
                        Router* router, NetworkFirewall* firewall);

// At every start, before serving: removes the networks of this instance whose app no longer exists (a
// crash during a destroy) and the cgroups of builds a crash interrupted. Returns whether builds can get
// a process limit here (dockerd's cgroupfs driver; a warning is printed otherwise).
bool CleanStartLeftovers(const ServerOptions& options, const std::string& instance_id, DockerClient* docker,
                         Store* store);

}  // namespace bim
