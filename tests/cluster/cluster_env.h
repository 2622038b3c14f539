// The cluster suite's test bed, as each test process sees it.
//
// Before the first test case runs, the suite's global environment finds the bed to use: the one named
// by $BIM_CLUSTER_BED (a state file), else the one the CTest fixture formed for this ctest run (owned by
// the parent process), else it forms a private bed for this process alone (running the test binary by
// hand) and removes it after the last case. Then the process enters host 1's network namespace, before
// any thread exists, so bimd, nginx, the registry, `bim` and the load generator it starts all live
// there (see testbed.h).
#pragma once

#include <string>
#include <vector>

#include "cluster/testbed.h"

namespace bim::testing {

// The bed (valid once the environment has set up, i.e. inside any test).
TestBed& ClusterBed();

// bimd's flags for the bed: the manager's dockerd, the Swarm engine, its registry on a free port of
// host 1, and `extra`.
std::vector<std::string> ClusterBimdFlags(const std::vector<std::string>& extra);

// GET http://<host>:<port><path> from host 1's network: the HTTP status, 0 if nothing answered.
long HttpStatusAt(const std::string& host, int port, const std::string& path);

}  // namespace bim::testing
