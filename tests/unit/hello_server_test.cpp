// hello-server's test knobs, run as a plain process on loopback: the slow endpoint and the env vars the
// watch and crash tests use to make a release die, turn unhealthy or fail after going live.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "base/health_probe.h"
#include "support/bimd_harness.h"
#include "support/http_client.h"

extern char** environ;

namespace bim::testing {
namespace {

class HelloServer {
 public:
  explicit HelloServer(std::map<std::string, std::string> env) {
    PickFreeLoopbackPort(&port_);
    env["PORT"] = std::to_string(port_);
    std::vector<std::string> vars;
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    std::string path = BuildPath("examples/hello-server");
    char* argv[] = {path.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    Eventually([&] { return Get("/healthz").status != 0 || Exited(); }, 5);
  }
  ~HelloServer() {
    if (!Exited()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  HttpAnswer Get(const std::string& path) {
    HttpTarget target;
    target.port = port_;
    target.host = "hello";
    target.path = path;
    return HttpFetch(target);
  }
  bool Exited() {
    if (exit_code_ >= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  int exit_code() const { return exit_code_; }

 private:
  int port_ = 0;
  pid_t pid_ = 0;
  int exit_code_ = -1;
};

TEST(HelloServerTest, SlowEndpointAnswersLikeRootAfterTheAskedTime) {
  HelloServer server({{"GREETING", "slowly"}, {"SLOW_MS", "150"}});
  HttpAnswer a = server.Get("/slow?ms=400");
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.body, "Hello from bim! slowly\n");
  EXPECT_GE(a.latency, std::chrono::milliseconds(400));
  a = server.Get("/slow");
  EXPECT_EQ(a.status, 200);
  EXPECT_GE(a.latency, std::chrono::milliseconds(150)) << "SLOW_MS is the default";
  EXPECT_LT(server.Get("/").latency, std::chrono::milliseconds(150));
}

TEST(HelloServerTest, TurnsUnhealthyAndFailsAfterTheirDelays) {
  // The delays count from the server's start, which is after t0: a check that needs the server to be
  // younger than a delay runs only while t0 is (a loaded machine may take long to start it).
  auto t0 = std::chrono::steady_clock::now();
  auto younger_than = [&](int ms) { return std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(ms); };
  HelloServer server({{"UNHEALTHY_AFTER_MS", "1000"}, {"FAIL_AFTER_MS", "3000"}});
  if (younger_than(900)) {
    EXPECT_EQ(server.Get("/healthz").status, 200);
    EXPECT_EQ(server.Get("/").status, 200);
  }
  EXPECT_TRUE(Eventually([&] { return server.Get("/healthz").status == 503; }, 5));
  if (younger_than(2900)) EXPECT_EQ(server.Get("/").status, 200) << "unhealthy, not failing yet";
  EXPECT_TRUE(Eventually([&] { return server.Get("/").status == 500; }, 5));
  EXPECT_EQ(server.Get("/slow?ms=1").status, 500);
}

TEST(HelloServerTest, ExitsWithTheAskedCodeAfterItsDelay) {
  HelloServer server({{"EXIT_AFTER_MS", "300"}, {"EXIT_CODE", "7"}});
  EXPECT_EQ(server.Get("/").status, 200);
  ASSERT_TRUE(Eventually([&] { return server.Exited(); }, 5));
  EXPECT_EQ(server.exit_code(), 7);
}

}  // namespace
}  // namespace bim::testing
