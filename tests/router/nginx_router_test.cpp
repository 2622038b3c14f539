// Nginx against the real nginx binary: its own prefix, routes to a real backend on loopback,
// `nginx -t` failures restored, reloads confirmed.
#include "proxy/nginx.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/health_probe.h"
#include "support/bimd_harness.h"

extern char** environ;

namespace bim::testing {
namespace {

namespace fs = std::filesystem;

// A hello-server process on a free loopback port (no Docker needed for routing tests).
class Backend {
 public:
  explicit Backend(const std::string& greeting) {
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
  ~Backend() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
};

class NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("bim-nginx-" + UniqueSuffix())).string();
    fs::create_directories(dir_ + "/templates");
    fs::copy(std::string(BIM_SOURCE_DIR) + "/templates/nginx", dir_ + "/templates");
    PickFreeLoopbackPort(&http_port_);
    NginxOptions options;
    options.prefix = dir_ + "/nginx";
    options.listen = "127.0.0.1:" + std::to_string(http_port_);
    options.template_dir = dir_ + "/templates";
    nginx_ = std::make_unique<Nginx>(options, &runner_);
    ASSERT_TRUE(nginx_->Start({}).ok());
  }
  void TearDown() override {
    nginx_->Stop();
    fs::remove_all(dir_);
  }
  HttpResult Get(const std::string& host) { return HttpGet(http_port_, "/", host); }

  std::string dir_;
  int http_port_ = 0;
  SubprocessRunner runner_;
  std::unique_ptr<Nginx> nginx_;
};

TEST_F(NginxTest, RoutesByHostAndSwitchesBackends) {
  Backend one("one"), two("two");
  ASSERT_TRUE(nginx_->ApplyRoute({"app", "app.localhost", "v1", one.port()}).ok());
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! one\n");
  EXPECT_EQ(Get("other.localhost").status, 404);

  std::set<int> old_workers;
  ASSERT_TRUE(nginx_->ApplyRoute({"app", "app.localhost", "v2", two.port()}, &old_workers).ok());
  EXPECT_FALSE(old_workers.empty());
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! two\n");
  for (int i = 0; i < 200 && Nginx::WorkersAlive(old_workers); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Nginx::WorkersAlive(old_workers)) << "old workers exit once idle";
}

TEST_F(NginxTest, BrokenConfigIsRefusedAndThePreviousRouteKeepsServing) {
  Backend one("one");
  ASSERT_TRUE(nginx_->ApplyRoute({"app", "app.localhost", "v1", one.port()}).ok());
  // A template that renders to invalid nginx syntax.
  std::ofstream(dir_ + "/templates/app.conf.mustache") << "server { listen {{listen}}; server_name {{server_name}}; "
                                                          "bogus_directive {{upstream_port}}; }\n# {{app}} {{release}}\n";
  Status s = nginx_->ApplyRoute({"app", "app.localhost", "v2", one.port() + 1});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("unknown directive \"bogus_directive\""), std::string::npos) << s.message();
  std::string file;
  std::ifstream in(nginx_->RouteFile("app"));
  file.assign(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(file.find("release v1"), std::string::npos) << "previous route file restored";
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! one\n");
}

TEST_F(NginxTest, RemoveRouteAndRestartWithRoutes) {
  Backend one("one");
  ASSERT_TRUE(nginx_->ApplyRoute({"a", "a.localhost", "v1", one.port()}).ok());
  ASSERT_TRUE(nginx_->ApplyRoute({"b", "b.localhost", "v1", one.port()}).ok());
  ASSERT_TRUE(nginx_->RemoveRoute("a").ok());
  EXPECT_EQ(Get("a.localhost").status, 404);
  EXPECT_EQ(Get("b.localhost").status, 200);
  // Start with the full list: files of apps not listed go, listed ones are (re)written.
  ASSERT_TRUE(nginx_->Start({{"c", "c.localhost", "v3", one.port()}}).ok());
  EXPECT_EQ(Get("b.localhost").status, 404);
  EXPECT_EQ(Get("c.localhost").status, 200);
}

TEST_F(NginxTest, StartAdoptsARunningMaster) {
  int master = nginx_->MasterPid();
  ASSERT_GT(master, 0);
  std::set<int> workers = nginx_->CurrentWorkers();
  ASSERT_FALSE(workers.empty());
  Nginx again(nginx_->options(), &runner_);
  ASSERT_TRUE(again.Start({}).ok());
  EXPECT_EQ(again.MasterPid(), master) << "a restarted bimd adopts the running nginx, it does not replace it";
  EXPECT_EQ(again.CurrentWorkers(), workers) << "nothing changed, so nothing was reloaded";
}

TEST(SubprocessRunnerTest, CapturesOutputAndExitStatusWithoutAShell) {
  SubprocessRunner runner;
  std::string out;
  EXPECT_TRUE(runner.Run({"echo", "a;b $(x)"}, &out).ok());
  EXPECT_EQ(out, "a;b $(x)\n") << "arguments are never shell-interpreted";
  Status s = runner.Run({"false"}, &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(runner.Run({"/no/such/program"}, &out).code(), Code::kUnavailable);
}

}  // namespace
}  // namespace bim::testing
