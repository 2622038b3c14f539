// The Deployer's release flow and failure paths through fake seams (fakes.h): no dockerd, no nginx.
// The database is the real SQLite store. The same paths run on the real stack in the integration and
// router suites; here every failure can be produced on demand and checked step by step.
#include "server/deployer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/deploy_plan.h"
#include "unit/deployer_fixture.h"

namespace bim {
namespace {

using fakes::DeployerTest;
using fakes::Eventually;

TEST_F(DeployerTest, AFirstReleaseSetsItsRouteBeforeItsSiteMakesItReachable) {
  DeployOutcome out;
  Status s = Deploy("one", &out);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out.release.status, "live");
  EXPECT_EQ(RouterLog(), "set shop 127.0.0.1:40000\nsite shop\n");
  ASSERT_EQ(router_.sites.count("shop"), 1u);
  EXPECT_EQ(router_.sites["shop"].hosts[0].server_names, std::vector<std::string>{"shop.localhost"});
  EXPECT_EQ(router_.sites["shop"].hosts[0].route, "shop");
  EXPECT_TRUE(images_.tags.count("bim/shop:v1"));
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
}

TEST_F(DeployerTest, ARedeployIsARouteChangeAndRetiresTheOldWorkloadOnceNothingIsInFlight) {
  ASSERT_TRUE(Deploy("one").ok());
  router_.SetInFlight("127.0.0.1:40000", 2);  // two requests still inside v1
  router_.log.clear();
  ASSERT_TRUE(Deploy("two").ok());
  EXPECT_EQ(RouterLog(), "site shop\nset shop 127.0.0.1:40001\n") << "site (unchanged) first, then the data switch";
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40001}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(engine_.Has("bim-shop-v1")) << "v1 stays while requests are in flight to it";
  router_.SetInFlight("127.0.0.1:40000", 0);
  EXPECT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v1"); })) << "and goes once they are done";
  EXPECT_TRUE(engine_.Has("bim-shop-v2"));
}

TEST_F(DeployerTest, TheDrainGraceCapsTheWaitForInFlightRequests) {
  options_.drain_grace = std::chrono::milliseconds(200);
  MakeDeployer();
  ASSERT_TRUE(Deploy("one").ok());
  router_.SetInFlight("127.0.0.1:40000", 1);  // a request that never ends (a WebSocket, say)
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Deploy("two").ok());
  ASSERT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v1"); }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(190));
}

TEST_F(DeployerTest, AnUnhealthyReleaseIsNeverRoutedAndLeavesNothingBehind) {
  ASSERT_TRUE(Deploy("one").ok());
  router_.log.clear();
  unhealthy_ = true;
  DeployOutcome out;
  Status s = Deploy("two", &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("did not become healthy within 300ms: GET /healthz answered 500"), std::string::npos)
      << s.message();
  EXPECT_EQ(out.release.status, "failed");
  EXPECT_EQ(out.log_tail, std::vector<std::string>{"log line of bim-shop-v2"}) << "its logs are saved first";
  EXPECT_EQ(RouterLog(), "") << "the router is never touched";
  EXPECT_FALSE(engine_.Has("bim-shop-v2"));
  EXPECT_FALSE(images_.tags.count("bim/shop:v2")) << "its image is removed";
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40000}}));
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
}

TEST_F(DeployerTest, AnInstanceThatExitsFailsTheReleaseWithoutWaitingForTheTimeout) {
  ASSERT_TRUE(Deploy("one").ok());
  unhealthy_ = true;
  // The engine reports the new instance exited with code 3 as soon as it is inspected.
  std::thread crash([&] {
    Eventually([&] { return engine_.Has("bim-shop-v2"); });
    Instance dead;
    dead.id = "x";
    dead.state = "exited";
    dead.failed = true;
    dead.exit_code = 3;
    dead.endpoint = Endpoint{"127.0.0.1", 40001};
    engine_.SetInstances("bim-shop-v2", {dead});
  });
  Status s = Deploy("two");
  crash.join();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("exited before becoming healthy (exit code 3)"), std::string::npos) << s.message();
}

TEST_F(DeployerTest, EngineAndBuildFailuresAreReportedAndRecorded) {
  images_.build_error = Status::FailedPrecondition("docker build bim/shop:v1: COPY failed: no-such-file");
  DeployOutcome out;
  Status s = Deploy("one", &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("build failed: docker build bim/shop:v1: COPY failed"), std::string::npos) << s.message();
  EXPECT_TRUE(engine_.started.empty()) << "nothing runs after a failed build";

  images_.build_error = Status::OK();
  engine_.start_error = Status::Unavailable("dockerd did not answer");
  s = Deploy("one", &out);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(out.release.status, "failed");
  EXPECT_NE(out.release.failure_reason.find("dockerd did not answer"), std::string::npos);
  EXPECT_TRUE(router_.routes.empty());
  EXPECT_FALSE(images_.tags.count("bim/shop:v2")) << "the image built for it is removed";
}

TEST_F(DeployerTest, ASiteTheProxyRejectsOnAFirstReleaseLeavesNoRoute) {
  router_.put_site_error = Status::FailedPrecondition("nginx rejected the config: unknown directive \"x\"");
  DeployOutcome out;
  Status s = Deploy("one", &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("switching the route: nginx rejected the config"), std::string::npos) << s.message();
  EXPECT_EQ(RouterLog(), "set shop 127.0.0.1:40000\nsite shop\nremove shop\n");
  EXPECT_FALSE(engine_.Has("bim-shop-v1"));
  App app;
  ASSERT_TRUE(store_->GetApp("shop", &app).ok());
  EXPECT_EQ(app.live_version, 0);
}

TEST_F(DeployerTest, ASiteOrRouteFailureOnARedeployMovesNoTraffic) {
  ASSERT_TRUE(Deploy("one").ok());
  router_.log.clear();
  router_.put_site_error = Status::FailedPrecondition("nginx rejected the config: bad template");
  EXPECT_EQ(Deploy("two").code(), Code::kFailedPrecondition);
  EXPECT_EQ(RouterLog(), "site shop\n") << "the switch is never attempted";

  router_.put_site_error = Status::OK();
  router_.set_route_error = Status::Unavailable("nginx's control socket did not answer");
  router_.log.clear();
  DeployOutcome out;
  EXPECT_EQ(Deploy("three", &out).code(), Code::kUnavailable);
  EXPECT_EQ(out.release.status, "failed");
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40000}})) << "v1 still routed";
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
  EXPECT_FALSE(engine_.Has("bim-shop-v3"));
  App app;
  ASSERT_TRUE(store_->GetApp("shop", &app).ok());
  EXPECT_EQ(app.live_version, 1);
}

TEST_F(DeployerTest, RollbackRunsTheOldImageWithoutABuildAndRefusesAPrunedOne) {
  ASSERT_TRUE(Deploy("one").ok());
  ASSERT_TRUE(Deploy("two").ok());
  DeployOutcome out;
  Status s = deployer_->Rollback("shop", 1, "test", true, [](const nlohmann::json&) {}, nullptr, &out);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out.release.kind, "rollback");
  EXPECT_EQ(out.release.image_tag, "bim/shop:v1");
  EXPECT_EQ(out.release.build_ms, 0);
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40002}}));

  images_.RemoveImage("bim/shop:v2", false);
  s = deployer_->Rollback("shop", 2, "test", true, [](const nlohmann::json&) {}, nullptr, &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("was pruned"), std::string::npos) << s.message();
}

TEST_F(DeployerTest, ReconcileRoutesToTheLiveWorkloadsAndRemovesTheRest) {
  ASSERT_TRUE(Deploy("one").ok());
  // A crash left: an orphan workload of a release that never went live, and a release stuck in
  // "starting" whose workload exists too.
  WorkloadSpec orphan;
  orphan.name = "bim-shop-v9";
  orphan.labels = {{labels::kInstance, "inst"}, {labels::kApp, "shop"}, {labels::kRelease, "v9"}};
  Workload ignored;
  engine_.Start(orphan, &ignored);
  Release stuck;
  stuck.app = "shop";
  stuck.status = release_status::kStarting;
  ASSERT_TRUE(store_->CreateRelease(&stuck).ok());
  stuck.container_name = "bim-shop-v" + std::to_string(stuck.version);
  store_->UpdateRelease(stuck);
  orphan.name = stuck.container_name;
  engine_.Start(orphan, &ignored);
  router_.routes.clear();
  router_.sites.clear();

  ASSERT_TRUE(deployer_->Reconcile().ok());
  EXPECT_EQ(router_.starts, 1);
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40000}})) << "the live workload's endpoint";
  EXPECT_EQ(router_.sites.count("shop"), 1u);
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
  EXPECT_FALSE(engine_.Has("bim-shop-v9"));
  EXPECT_FALSE(engine_.Has(stuck.container_name));
  Release after;
  ASSERT_TRUE(store_->GetRelease("shop", stuck.version, &after).ok());
  EXPECT_EQ(after.status, "failed");
  EXPECT_EQ(after.failure_reason, "interrupted: bimd stopped while the release was starting");
}

TEST_F(DeployerTest, TheRouteFollowsTheLiveWorkloadsInstancesButNotARetiredOnes) {
  ASSERT_TRUE(Deploy("one").ok());
  ASSERT_TRUE(Deploy("two").ok());
  // The live workload's instance moved (a Swarm task rescheduled onto another node).
  Instance moved;
  moved.id = "t2";
  moved.state = "running";
  moved.running = true;
  moved.endpoint = Endpoint{"10.9.0.3", 30001};
  engine_.SetInstances("bim-shop-v2", {moved});
  InstanceEvent e;
  e.kind = InstanceEvent::Kind::kStarted;
  e.workload = "bim-shop-v2";
  e.labels = {{labels::kApp, "shop"}};
  engine_.Emit(e);
  EXPECT_TRUE(Eventually([&] { return router_.Route("shop") == std::vector<Endpoint>{{"10.9.0.3", 30001}}; }));
  // An event about another workload of the app (the retired v1) never takes the route.
  WorkloadSpec old;
  old.name = "bim-shop-v1";
  Workload ignored;
  engine_.Start(old, &ignored);
  e.workload = "bim-shop-v1";
  engine_.Emit(e);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"10.9.0.3", 30001}}));
}

TEST_F(DeployerTest, DestroyRemovesSiteRouteWorkloadsAndImages) {
  ASSERT_TRUE(Deploy("one").ok());
  nlohmann::json removed;
  ASSERT_TRUE(deployer_->Destroy("shop", "test", false, &removed).ok());
  EXPECT_EQ(router_.sites.count("shop"), 0u);
  EXPECT_TRUE(router_.routes.empty());
  EXPECT_FALSE(engine_.Has("bim-shop-v1"));
  EXPECT_TRUE(images_.tags.empty());
  EXPECT_EQ(removed["containers"], nlohmann::json::array({"bim-shop-v1"}));
}

}  // namespace
}  // namespace bim

namespace bim {
namespace {

TEST_F(DeployerTest, AWatchedReleaseKeepsItsPredecessorAsStandbyAndAnExitRollsBackToIt) {
  options_.watch_window = std::chrono::milliseconds(60000);
  MakeDeployer();
  ASSERT_TRUE(Deploy("one").ok());
  router_.log.clear();
  DeployOutcome out;
  ASSERT_TRUE(Deploy("two", &out).ok());
  EXPECT_EQ(RouterLog(), "site shop\nset shop 127.0.0.1:40001 ~127.0.0.1:40000\n") << "v1 is v2's standby";
  EXPECT_EQ(out.watch.value("state", ""), "watching");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(engine_.Has("bim-shop-v1")) << "the standby keeps running during the window";

  InstanceEvent died;
  died.workload = "bim-shop-v2";
  died.instance_id = "bim-shop-v2-0";
  died.exit_code = 3;
  engine_.Emit(died);
  ASSERT_TRUE(Eventually([&] { return router_.Route("shop") == std::vector<Endpoint>{{"127.0.0.1", 40000}}; }))
      << RouterLog();
  EXPECT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v2"); })) << "the failed release is retired";
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
  App app;
  ASSERT_TRUE(store_->GetApp("shop", &app).ok());
  EXPECT_EQ(app.live_version, 1);
  Release v2;
  ASSERT_TRUE(store_->GetRelease("shop", 2, &v2).ok());
  EXPECT_EQ(v2.status, "failed");
  EXPECT_EQ(v2.failure_reason, "rolled back after it exited with code 3");
  Watch w;
  ASSERT_TRUE(store_->GetWatch(v2.id, &w).ok());
  EXPECT_EQ(w.state, watch_state::kRolledBack);
  EXPECT_NE(w.evidence.find("log line of bim-shop-v2"), std::string::npos) << w.evidence;
  // The audit row comes last (after the failed release's retirement was scheduled).
  std::vector<AuditEntry> audit;
  EXPECT_TRUE(Eventually([&] {
    return store_->ListAudit("shop", 1, &audit).ok() && audit.size() == 1u &&
           audit[0].detail.find("v2 -> v1: rolled back after it exited with code 3") != std::string::npos;
  })) << (audit.empty() ? "no audit row" : audit[0].detail);
}

TEST_F(DeployerTest, AWatchThatPassesRetiresTheStandbyAndANewDeployEndsTheWatch) {
  options_.watch_window = std::chrono::milliseconds(300);
  MakeDeployer();
  ASSERT_TRUE(Deploy("one").ok());
  ASSERT_TRUE(Deploy("two").ok());
  EXPECT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v1"); })) << "the window passed";
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40001}})) << "no standby left";

  options_.watch_window = std::chrono::milliseconds(60000);
  MakeDeployer();
  ASSERT_TRUE(Deploy("three").ok());  // watched, v2 its standby
  ASSERT_TRUE(Deploy("four").ok());   // ends v3's watch: v2 goes, v3 is v4's standby
  EXPECT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v2"); }));
  EXPECT_TRUE(engine_.Has("bim-shop-v3"));
  Release v3;
  Watch w;
  ASSERT_TRUE(store_->GetRelease("shop", 3, &v3).ok());
  ASSERT_TRUE(store_->GetWatch(v3.id, &w).ok());
  EXPECT_EQ(w.state, watch_state::kEnded);
  EXPECT_EQ(w.reason, "a newer deploy started");
  EXPECT_EQ(router_.Route("shop").size(), 2u);
}

}  // namespace
}  // namespace bim
