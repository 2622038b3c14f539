// Routes as data through a real bimd (real dockerd, nginx + Lua, SQLite, the bim CLI): a deploy of an
// existing app switches with no nginx reload and no failed request, requests in flight across the
// switch finish on the old release, which is retired once they are done (not after a timer), and a
// killed nginx master is taken over from its orphaned workers under load.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <future>
#include <thread>

#include "docker/docker_client.h"
#include "proxy/nginx_process.h"
#include "support/bimd_harness.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

// Read-only view of a bimd's nginx (its master and workers), for checking what bimd did to it.
NginxOptions NginxOf(const Bimd& server) {
  NginxOptions options;
  options.prefix = server.data_dir() + "/nginx";
  return options;
}

std::set<int> SettledWorkers(NginxProcess& nginx) {
  Eventually([&] { return nginx.Workers().size() == static_cast<size_t>(nginx.options().worker_processes); }, 10);
  return nginx.Workers();
}

std::vector<std::string> ContainersOf(const std::string& app) {
  std::vector<ContainerInfo> found;
  EXPECT_TRUE(DockerClient().ListContainers({{"im.backend.bim.app", app}}, true, &found).ok());
  std::vector<std::string> names;
  for (const auto& c : found) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  return names;
}

// Slow requests (GET /slow on hello-server) started now, each on its own connection.
std::vector<std::future<HttpResult>> StartSlowRequests(const Bimd& server, const std::string& app, int n, int ms) {
  std::vector<std::future<HttpResult>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(std::async(std::launch::async, [&server, app, ms] {
      return HttpGet(server.http_port(), "/slow?ms=" + std::to_string(ms), app + ".localhost", ms + 20000);
    }));
  }
  return out;
}

TEST(RoutingTest, ARedeployIsARouteSwitchNoReloadNoFailedRequestAndTheOldReleaseDrainsFirst) {
  // A drain grace far beyond the test: the old release can only go because nothing is in flight.
  Bimd server({"--drain-grace-ms", "120000"});
  std::string app = "rt-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=blue\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  SubprocessRunner runner;
  NginxProcess nginx(NginxOf(server), &runner);
  int master = nginx.MasterPid();
  std::set<int> workers = SettledWorkers(nginx);
  ASSERT_GT(master, 0);

  ZeroDowntimeProbe load(server.Target(app));
  load.Start();
  auto slow = StartSlowRequests(server, app, 3, 2500);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // they are inside v1 now
  folder.Write(".env", "GREETING=green\n");
  CommandResult r = server.Bim({"deploy", folder.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Eventually([&] { return load.LastBody() == "Hello from bim! green\n"; }, 5));
  EXPECT_EQ(ContainersOf(app), (std::vector<std::string>{"bim-" + app + "-v1", "bim-" + app + "-v2"}))
      << "v1 keeps running while its requests are in flight";
  for (auto& f : slow) {
    HttpResult done = f.get();
    EXPECT_EQ(done.status, 200) << done.error;
    EXPECT_EQ(done.body, "Hello from bim! blue\n") << "a request in flight across the switch finishes on v1";
  }
  EXPECT_TRUE(Eventually([&] { return ContainersOf(app) == std::vector<std::string>{"bim-" + app + "-v2"}; }, 20))
      << "v1 is retired once its requests are done, long before the 120 s grace";
  ProofReport report = load.Stop();
  std::printf("load across a routed redeploy:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! blue\n", "Hello from bim! green\n"}, true));
  EXPECT_GT(report.fresh.by_body["Hello from bim! blue\n"], 0);
  EXPECT_GT(report.fresh.by_body["Hello from bim! green\n"], 0);
  EXPECT_EQ(nginx.MasterPid(), master);
  EXPECT_EQ(nginx.Workers(), workers) << "the same nginx workers served before and after: no reload";

  // Rollback and env changes are route switches too.
  ASSERT_EQ(server.Bim({"rollback", app}).exit_code, 0);
  EXPECT_EQ(server.Get(app).body, "Hello from bim! blue\n");
  ASSERT_EQ(server.Bim({"env", "set", app, "GREETING=red"}).exit_code, 0);
  EXPECT_EQ(server.Get(app).body, "Hello from bim! red\n");
  EXPECT_EQ(nginx.Workers(), workers);
}

TEST(RoutingTest, AKilledNginxMasterIsTakenOverByBimdUnderLoadWithNoFailedRequest) {
  Bimd server({"--drain-grace-ms", "2000"});
  std::string app = "rt-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=blue\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  SubprocessRunner runner;
  NginxProcess nginx(NginxOf(server), &runner);
  ZeroDowntimeProbe load(server.Target(app));
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  // 1. While bimd runs: it notices within a second and takes over from the orphaned workers.
  int master = nginx.MasterPid();
  std::set<int> orphans = SettledWorkers(nginx);
  ASSERT_EQ(kill(master, SIGKILL), 0);
  EXPECT_TRUE(Eventually([&] { return nginx.MasterPid() != 0 && nginx.MasterPid() != master; }, 10)) << server.Log();
  EXPECT_TRUE(Eventually([&] { return !NginxProcess::AnyAlive(orphans); }, 15)) << "the orphans are retired";
  EXPECT_NE(server.Log().find("took over from 2 orphaned workers"), std::string::npos) << server.Log();

  // 2. While bimd is down (a crash, an upgrade): the workers serve on, holding the port; the next
  //    bimd takes over at start instead of failing to bind it.
  server.Stop();
  master = nginx.MasterPid();
  orphans = SettledWorkers(nginx);
  ASSERT_EQ(kill(master, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] { return nginx.MasterPid() == 0; }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(nginx.Orphans(), orphans) << "bimd's own workers, recognised by their control socket";
  server.Start();
  int new_master = nginx.MasterPid();
  EXPECT_GT(new_master, 0);
  EXPECT_NE(new_master, master);
  EXPECT_TRUE(Eventually([&] { return !NginxProcess::AnyAlive(orphans); }, 15)) << "the orphans are retired";

  // The new master serves and switches routes like the old one.
  folder.Write(".env", "GREETING=green\n");
  CommandResult r = server.Bim({"deploy", folder.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Eventually([&] { return load.LastBody() == "Hello from bim! green\n"; }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ProofReport report = load.Stop();
  std::printf("load across nginx's master dying twice and bimd taking over:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! blue\n", "Hello from bim! green\n"}, true));
  for (int pid : nginx.Orphans()) kill(pid, SIGKILL);  // only if a takeover failed
}

TEST(RoutingTest, BimdRestartsAnNginxThatWasKilledOutrightWithEveryRouteBeforeTraffic) {
  Bimd server({"--drain-grace-ms", "2000"});
  std::string a = "rt-" + UniqueSuffix(), b = "rt-" + UniqueSuffix();
  AppFolder fa(a, "GREETING=a\n"), fb(b, "GREETING=b\n");
  ASSERT_EQ(server.Bim({"deploy", fa.path()}).exit_code, 0);
  ASSERT_EQ(server.Bim({"deploy", fb.path()}).exit_code, 0);
  fa.Write(".env", "GREETING=a2\n");
  ASSERT_EQ(server.Bim({"deploy", fa.path()}).exit_code, 0);  // a route switch after a's site was made
  SubprocessRunner runner;
  NginxProcess nginx(NginxOf(server), &runner);
  int master = nginx.MasterPid();
  std::set<int> everything = SettledWorkers(nginx);
  everything.insert(master);
  for (int pid : everything) kill(pid, SIGKILL);
  EXPECT_NE(server.Get(a).status, 200);
  // bimd's watch starts a fresh nginx, which reads the routes from disk before its first request.
  ASSERT_TRUE(Eventually([&] { return nginx.MasterPid() != 0; }, 10)) << server.Log();
  EXPECT_EQ(server.Get(a).body, "Hello from bim! a2\n");
  EXPECT_EQ(server.Get(b).body, "Hello from bim! b\n");
}

}  // namespace
}  // namespace bim::testing
