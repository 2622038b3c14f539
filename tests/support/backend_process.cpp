#include "support/backend_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "base/health_probe.h"
#include "support/bimd_harness.h"

namespace bim::testing {

BackendProcess::BackendProcess(const std::string& greeting) {
  PickFreeLoopbackPort(&port_);
  std::string port_env = "PORT=" + std::to_string(port_);
  std::string greeting_env = "GREETING=" + greeting;
  std::string bin = BuildPath("examples/hello-server");
  char* argv[] = {bin.data(), nullptr};
  char* envp[] = {port_env.data(), greeting_env.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn(&pid_, argv[0], &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  for (int i = 0; i < 100 && !ProbeHealth(port_, "/healthz", std::chrono::milliseconds(200)).ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

BackendProcess::~BackendProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

Endpoint DeadEndpoint() {
  int port = 0;
  PickFreeLoopbackPort(&port);
  return Endpoint{"127.0.0.1", port};
}

}  // namespace bim::testing
