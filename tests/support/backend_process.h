// BackendProcess: a hello-server process on a free loopback port, for routing tests and benches that
// need real HTTP backends without Docker. Stopped (SIGTERM, reaped) when destroyed.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/endpoint.h"

namespace bim::testing {

class BackendProcess {
 public:
  // Starts examples/hello-server with GREETING=`greeting` and waits (up to 2 s) until /healthz answers.
  explicit BackendProcess(const std::string& greeting);
  ~BackendProcess();
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;

  Endpoint endpoint() const { return Endpoint{"127.0.0.1", port_}; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
};

// A loopback endpoint nothing listens on (connections to it are refused).
Endpoint DeadEndpoint();

}  // namespace bim::testing
