// Endpoint: where one instance of a workload answers, as the router and the health probe reach it
// ("127.0.0.1:24517" for a local container; "10.77.0.3:30001" for a Swarm task's host-mode port).
//
// Hosts are IPv4 literals only: nginx's Lua balancer connects to an address without a resolver, and a
// name here would be a silent DNS dependency on the routing path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

struct Endpoint {
  std::string host = "127.0.0.1";  // dotted-quad IPv4
  int port = 0;                    // 1-65535
  // A standby backend of a route: the router sends a request to it only after every other backend
  // failed to take it (a connect error, or an idempotent request whose connection died before an
  // answer). A watched release's predecessor waits so, ready to take over (see deployer.h).
  bool standby = false;

  std::string ToString() const { return host + ":" + std::to_string(port); }
  bool operator==(const Endpoint& o) const { return host == o.host && port == o.port; }
  bool operator<(const Endpoint& o) const { return host < o.host || (host == o.host && port < o.port); }
};

// Parses "A.B.C.D:PORT" ("~A.B.C.D:PORT" for a standby). InvalidArgument (naming the text) for anything else.
Status ParseEndpoint(std::string_view text, Endpoint* out);

// OK for a dotted-quad IPv4 host and a port in 1-65535.
Status ValidateEndpoint(const Endpoint& endpoint);

// "a:1 b:2 ~c:3" (space-separated, in order, standbys marked "~"); the route file and control
// protocol format.
std::string JoinEndpoints(const std::vector<Endpoint>& endpoints);

}  // namespace bim
