// NginxRouter against the real nginx + Lua (Debian's libnginx-mod-http-lua): its own prefix, routes to
// real hello-server processes on loopback. Route switches without reloads, balancing and retries,
// in-flight counts, configs nginx rejects, restarts of nginx, and a takeover from orphaned workers.
#include "proxy/nginx_router.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "base/file_util.h"
#include "base/health_probe.h"
#include "support/backend_process.h"
#include "support/bimd_harness.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;

using Backend = BackendProcess;

class NginxRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("bim-router-" + UniqueSuffix())).string();
    fs::create_directories(dir_ + "/templates");
    fs::copy(std::string(BIM_SOURCE_DIR) + "/templates/nginx", dir_ + "/templates");
    PickFreeLoopbackPort(&http_port_);
    options_.prefix = dir_ + "/nginx";
    options_.listen = "127.0.0.1:" + std::to_string(http_port_);
    options_.template_dir = dir_ + "/templates";
    router_ = std::make_unique<NginxRouter>(options_, &runner_);
    Status s = router_->Start({}, {});
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void TearDown() override {
    // Whatever runs under this prefix goes: the master, and orphans a test left behind.
    router_->Stop();
    for (int pid : router_->process().Orphans()) kill(pid, SIGKILL);
    fs::remove_all(dir_);
  }
  HttpResult Get(const std::string& host, const std::string& path = "/") { return HttpGet(http_port_, path, host); }
  // The current worker generation, once the previous one (of a reload) has exited.
  static std::set<int> SettledWorkers(NginxProcess& process) {
    Eventually([&] { return process.Workers().size() == static_cast<size_t>(process.options().worker_processes); }, 10);
    return process.Workers();
  }
  static Site SiteOf(const std::string& app) { return Site{app, {VirtualHost{{app + ".localhost"}, app, "", "", false}}}; }
  void Route(const std::string& app, const std::vector<Endpoint>& backends) {
    ASSERT_TRUE(router_->SetRoute(app, backends).ok());
    Status s = router_->PutSite(SiteOf(app));
    ASSERT_TRUE(s.ok()) << s.message();
  }

  std::string dir_;
  int http_port_ = 0;
  NginxOptions options_;
  SubprocessRunner runner_;
  std::unique_ptr<NginxRouter> router_;
};

TEST_F(NginxRouterTest, ARouteSwitchIsDataTheNextRequestFollowsItAndNothingReloads) {
  Backend one("one"), two("two");
  Route("app", {one.endpoint()});
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! one\n");
  EXPECT_EQ(Get("other.localhost").status, 404);

  int master = router_->process().MasterPid();
  std::set<int> workers = SettledWorkers(router_->process());
  int64_t reloads = router_->process().reloads();
  for (int i = 0; i < 20; ++i) {
    const Backend& to = i % 2 ? one : two;
    ASSERT_TRUE(router_->SetRoute("app", {to.endpoint()}).ok());
    EXPECT_EQ(Get("app.localhost").body, i % 2 ? "Hello from bim! one\n" : "Hello from bim! two\n")
        << "the very next request goes to the new backend";
  }
  EXPECT_EQ(router_->process().MasterPid(), master);
  EXPECT_EQ(router_->process().Workers(), workers) << "no new worker generation: nginx was not reloaded";
  EXPECT_EQ(router_->process().reloads(), reloads);
  std::vector<Endpoint> now;
  ASSERT_TRUE(router_->GetRoute("app", &now).ok());
  EXPECT_EQ(now, std::vector<Endpoint>{one.endpoint()});
  std::string file;
  ReadFile(router_->RouteFile("app"), &file);
  EXPECT_EQ(file, one.endpoint().ToString() + "\n") << "persisted";
}

TEST_F(NginxRouterTest, RequestsBalanceOverBackendsAndADeadBackendIsSkipped) {
  Backend one("one"), two("two");
  Route("app", {one.endpoint(), two.endpoint()});
  std::map<std::string, int> seen;
  for (int i = 0; i < 40; ++i) seen[Get("app.localhost").body]++;
  EXPECT_EQ(seen.size(), 2u) << "both backends answer";
  EXPECT_GE(seen["Hello from bim! one\n"], 10);
  EXPECT_GE(seen["Hello from bim! two\n"], 10);

  // One backend refuses connections (a task on a dead host, a container gone): every request still
  // succeeds, GET and POST alike, because nothing was sent to the dead one.
  ASSERT_TRUE(router_->SetRoute("app", {DeadEndpoint(), one.endpoint(), DeadEndpoint()}).ok());
  int ok = 0;
  for (int i = 0; i < 30; ++i) ok += Get("app.localhost").status == 200;
  EXPECT_EQ(ok, 30);
  // And a route whose only backend is dead answers 502 (nginx's answer), not a hang.
  ASSERT_TRUE(router_->SetRoute("app", {DeadEndpoint()}).ok());
  EXPECT_EQ(Get("app.localhost").status, 502);
  // A route with no backends (no live release) answers 503 with a reason.
  ASSERT_TRUE(router_->SetRoute("app", {}).ok());
  HttpResult none = Get("app.localhost");
  EXPECT_EQ(none.status, 503);
  EXPECT_EQ(none.body, "bim: this app has no live release\n");
}

TEST_F(NginxRouterTest, InFlightCountsTheRequestsEachBackendIsServing) {
  Backend slow("slow");
  Route("app", {slow.endpoint()});
  std::vector<std::future<HttpResult>> requests;
  for (int i = 0; i < 3; ++i)
    requests.push_back(std::async(std::launch::async, [&] { return HttpGet(http_port_, "/slow?ms=1500", "app.localhost"); }));
  std::vector<int64_t> counts;
  EXPECT_TRUE(Eventually([&] {
    return router_->InFlight({slow.endpoint(), DeadEndpoint()}, &counts).ok() && counts[0] == 3;
  }, 5)) << (counts.empty() ? -1 : counts[0]);
  EXPECT_EQ(counts[1], 0) << "a backend nothing goes to";
  // Switching the route away does not end them: they finish on the backend they started on.
  Backend other("other");
  ASSERT_TRUE(router_->SetRoute("app", {other.endpoint()}).ok());
  ASSERT_TRUE(router_->InFlight({slow.endpoint()}, &counts).ok());
  EXPECT_EQ(counts[0], 3);
  for (auto& r : requests) {
    HttpResult done = r.get();
    EXPECT_EQ(done.status, 200) << done.error;
    EXPECT_EQ(done.body, "Hello from bim! slow\n");
  }
  EXPECT_TRUE(Eventually([&] { return router_->InFlight({slow.endpoint()}, &counts).ok() && counts[0] == 0; }, 5));
}

TEST_F(NginxRouterTest, NewAppsAndDomainsAreDataTooNoReload) {
  Backend one("one"), two("two");
  Route("app", {one.endpoint()});
  std::set<int> workers = SettledWorkers(router_->process());
  int64_t reloads = router_->process().reloads();
  for (int i = 0; i < 5; ++i) Route("new" + std::to_string(i), {two.endpoint()});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("new" + std::to_string(i) + ".localhost").body, "Hello from bim! two\n");
  // A custom domain (and an extra name routed elsewhere) added to an app, then taken away.
  Site site{"app", {VirtualHost{{"app.localhost", "Shop.Example.com"}, "app", "", "", false},
                    VirtualHost{{"admin.app.localhost"}, "new0", "", "", false}}};
  ASSERT_TRUE(router_->PutSite(site).ok());
  EXPECT_EQ(Get("shop.example.com").body, "Hello from bim! one\n");
  EXPECT_EQ(Get("admin.app.localhost").body, "Hello from bim! two\n");
  ASSERT_TRUE(router_->PutSite(SiteOf("app")).ok());
  EXPECT_EQ(Get("shop.example.com").status, 404);
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! one\n");
  EXPECT_EQ(router_->PutSite(Site{"other", {VirtualHost{{"app.localhost"}, "new1", "", "", false}}}).code(),
            Code::kConflict) << "a name belongs to one app";
  EXPECT_EQ(router_->process().Workers(), workers) << "no new worker generation: nginx was not reloaded";
  EXPECT_EQ(router_->process().reloads(), reloads);
}

TEST_F(NginxRouterTest, ATemplateNginxRejectsNeverGoesLiveAndTheRunningConfigKeepsServing) {
  Backend one("one");
  Route("app", {one.endpoint()});
  std::string before;
  ReadFile(options_.prefix + "/apps.conf", &before);
  int master = router_->process().MasterPid();
  // An operator's template mistake, picked up when bimd starts again.
  std::ofstream(dir_ + "/templates/app.conf.mustache")
      << "server { listen {{listen}} default_server; bogus_directive on; }\n";
  NginxRouter again(options_, &runner_);
  Status s = again.Start({SiteOf("app")}, {{"app", {one.endpoint()}}});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("unknown directive \"bogus_directive\""), std::string::npos) << s.message();
  std::string after;
  ReadFile(options_.prefix + "/apps.conf", &after);
  EXPECT_EQ(after, before) << "the previous config is put back";
  EXPECT_EQ(router_->process().MasterPid(), master);
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! one\n");
}

TEST_F(NginxRouterTest, RoutesSurviveARestartOfNginxWithoutAnyoneRePushingThem) {
  Backend one("one"), two("two");
  Route("a", {one.endpoint()});
  Route("b", {two.endpoint(), one.endpoint()});
  ASSERT_TRUE(router_->SetRoute("a", {two.endpoint()}).ok());  // a switch after the site was made
  ASSERT_TRUE(router_->process().Stop().ok());
  EXPECT_NE(Get("a.localhost").status, 200);
  bool restarted = false;
  ASSERT_TRUE(router_->EnsureRunning(&restarted).ok());
  EXPECT_TRUE(restarted);
  // The fresh master filled its empty route table from the files before serving a request.
  EXPECT_EQ(Get("a.localhost").body, "Hello from bim! two\n");
  EXPECT_EQ(Get("b.localhost").status, 200);
  std::vector<Endpoint> b;
  ASSERT_TRUE(router_->GetRoute("b", &b).ok());
  EXPECT_EQ(b.size(), 2u);
}

TEST_F(NginxRouterTest, RemovedRoutesAndSitesStopServingAndStartRemovesWhatIsNotListed) {
  Backend one("one");
  Route("a", {one.endpoint()});
  Route("b", {one.endpoint()});
  ASSERT_TRUE(router_->RemoveRoute("a").ok());
  EXPECT_EQ(Get("a.localhost").status, 503);
  ASSERT_TRUE(router_->RemoveSite("a").ok());
  EXPECT_EQ(Get("a.localhost").status, 404);
  EXPECT_EQ(Get("b.localhost").status, 200);
  // Start with the full truth: sites and routes not listed go, listed ones are (re)written.
  ASSERT_TRUE(router_->Start({SiteOf("c")}, {{"c", {one.endpoint()}}}).ok());
  EXPECT_EQ(Get("b.localhost").status, 404);
  EXPECT_EQ(Get("c.localhost").status, 200);
  EXPECT_FALSE(fs::exists(router_->RouteFile("b")));
}

TEST_F(NginxRouterTest, StartAdoptsARunningMasterAndFixesItsRoutesWithoutAReload) {
  Backend one("one"), two("two");
  Route("app", {one.endpoint()});
  int master = router_->process().MasterPid();
  std::set<int> workers = SettledWorkers(router_->process());
  NginxRouter again(options_, &runner_);
  // A bimd restarted after a crash between writing a route and telling nginx: its truth says two.
  ASSERT_TRUE(again.Start({SiteOf("app")}, {{"app", {two.endpoint()}}}).ok());
  EXPECT_EQ(again.process().MasterPid(), master) << "a restarted bimd adopts the running nginx";
  EXPECT_EQ(again.process().Workers(), workers) << "nothing in the config changed, so nothing reloaded";
  EXPECT_EQ(Get("app.localhost").body, "Hello from bim! two\n");
}

TEST_F(NginxRouterTest, TheControlEndpointIsAUnixSocketNotSomethingTheAppListenerServes) {
  Backend one("one");
  Route("app", {one.endpoint()});
  struct stat st {};
  ASSERT_EQ(stat(router_->process().ControlSocket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  // The same paths on the public listener reach the app (hello-server: 404), never the route table.
  for (const char* host : {"app.localhost", "unknown.localhost", ""}) {
    HttpResult r = HttpGet(http_port_, "/routes/get?key=app", host);
    EXPECT_NE(r.body, one.endpoint().ToString() + "\n") << host;
  }
  std::vector<Endpoint> now;
  ASSERT_TRUE(router_->GetRoute("app", &now).ok());
  EXPECT_EQ(now, std::vector<Endpoint>{one.endpoint()});
}

TEST_F(NginxRouterTest, AKilledMastersOrphanedWorkersAreTakenOverUnderLoadWithNoFailedRequest) {
  Backend one("one"), two("two");
  Route("app", {one.endpoint()});
  ZeroDowntimeProbe load({"127.0.0.1", http_port_, "app.localhost", "/"});
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int master = router_->process().MasterPid();
  std::set<int> orphans = router_->process().Workers();
  ASSERT_GT(master, 0);
  ASSERT_EQ(kill(master, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] { return router_->process().MasterPid() == 0; }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the orphans serve on their own
  EXPECT_EQ(router_->process().Orphans(), orphans) << "the workers are recognised by their control socket";

  // A new bimd starting up: it cannot bind the port the orphans hold, so it takes over their sockets.
  NginxRouter again(options_, &runner_);
  Status s = again.Start({SiteOf("app")}, {{"app", {one.endpoint()}}});
  ASSERT_TRUE(s.ok()) << s.message();
  int new_master = again.process().MasterPid();
  EXPECT_GT(new_master, 0);
  EXPECT_NE(new_master, master);
  EXPECT_TRUE(Eventually([&] { return !NginxProcess::AnyAlive(orphans); }, 10)) << "the orphans finish and exit";
  EXPECT_TRUE(again.process().Orphans().empty());
  // The new master routes as data like the old one did.
  ASSERT_TRUE(again.SetRoute("app", {two.endpoint()}).ok());
  EXPECT_TRUE(Eventually([&] { return load.LastBody() == "Hello from bim! two\n"; }, 5));
  ProofReport report = load.Stop();
  std::printf("load across the master's death and the takeover:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! one\n", "Hello from bim! two\n"}, true));
  router_ = std::make_unique<NginxRouter>(options_, &runner_);  // TearDown stops the new master
}

}  // namespace
}  // namespace bim::testing
