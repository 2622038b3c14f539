// Compose apps through the Deployer on fake seams: several services per release, started in
// depends_on order, unchanged ones left alone, stop-first replacement, failures that leave the old
// set running, rollback of every service, reconcile, volumes.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/deploy_plan.h"
#include "unit/deployer_fixture.h"

namespace bim {
namespace {

using fakes::Eventually;

const std::string kApp = R"(services:
  web:
    build: .
    ports: ["8080"]
    depends_on: [db]
  worker:
    build: {context: ., dockerfile: Dockerfile.worker}
    depends_on: [db]
  db:
    image: local/db:1
    volumes: [data:/data]
volumes: {data: }
)";

class ComposeDeployerTest : public fakes::DeployerTest {
 protected:
  void SetUp() override {
    DeployerTest::SetUp();
    options_.service_settle = std::chrono::milliseconds(20);
    MakeDeployer();
    images_.tags.insert("local/db:1");
    images_.tags.insert("local/db:2");
    images_.contents = {{"Dockerfile", "web-1"}, {"Dockerfile.worker", "worker-1"}};
  }
  std::vector<ReleaseService> Services(int64_t version) {
    Release r;
    EXPECT_TRUE(store_->GetRelease("shop", version, &r).ok());
    std::vector<ReleaseService> out;
    EXPECT_TRUE(store_->LoadReleaseServices(r.id, &out).ok());
    return out;
  }
  std::string WorkloadOf(int64_t version, const std::string& service) {
    for (const auto& s : Services(version))
      if (s.service == service) return s.workload;
    return "";
  }
  std::vector<std::string> Started() {
    std::lock_guard<std::mutex> lock(engine_.mu);
    return engine_.started;
  }
};

TEST_F(ComposeDeployerTest, EveryServiceStartsInDependsOnOrderOnTheAppsNetworkWithItsVolume) {
  DeployOutcome out;
  Status s = DeployCompose(kApp, AppConfig(), &out, {{"GREETING", "a"}});
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Started(), (std::vector<std::string>{"bim-shop-v1-db", "bim-shop-v1", "bim-shop-v1-worker"}));
  const WorkloadSpec& db = engine_.specs["bim-shop-v1-db"];
  ASSERT_EQ(db.volumes.size(), 1u);
  EXPECT_EQ(db.volumes[0].volume, "bim-inst-shop.data");
  EXPECT_EQ(db.volumes[0].target, "/data");
  ASSERT_EQ(db.networks.size(), 1u);
  EXPECT_EQ(db.networks[0].network, "bim-inst-shop");
  EXPECT_EQ(db.networks[0].aliases, std::vector<std::string>{"db"}) << "reached by its service name";
  EXPECT_EQ(db.container_port, 0) << "nothing outside the app reaches it";
  EXPECT_EQ(db.image, "local/db:1");
  EXPECT_EQ(engine_.specs["bim-shop-v1"].container_port, 8080);
  EXPECT_NE(std::find(db.env.begin(), db.env.end(), "GREETING=a"), db.env.end()) << "the app's env reaches every service";
  EXPECT_TRUE(engine_.volumes.count("bim-inst-shop.data"));
  EXPECT_EQ(engine_.volumes["bim-inst-shop.data"].labels.at(labels::kVolume), "data");
  EXPECT_TRUE(engine_.networks.count("bim-inst-shop"));
  EXPECT_EQ(router_.Route("shop"), (std::vector<Endpoint>{{"127.0.0.1", 40000}}));
  EXPECT_EQ(out.release.container_name, "bim-shop-v1");
  EXPECT_EQ(Services(1).size(), 3u);
}

TEST_F(ComposeDeployerTest, OnlyChangedServicesAreReplacedAndTheRestRunUntouched) {
  ASSERT_TRUE(DeployCompose(kApp).ok());
  router_.log.clear();
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    engine_.started.clear();
  }
  images_.contents["Dockerfile.worker"] = "worker-2";  // only the worker's code changed
  ASSERT_TRUE(DeployCompose(kApp).ok());
  EXPECT_EQ(Started(), std::vector<std::string>{"bim-shop-v2-worker"});
  EXPECT_EQ(WorkloadOf(2, "web"), "bim-shop-v1") << "web kept: the release records the workload that runs it";
  EXPECT_EQ(WorkloadOf(2, "db"), "bim-shop-v1-db");
  EXPECT_EQ(WorkloadOf(2, "worker"), "bim-shop-v2-worker");
  EXPECT_EQ(RouterLog(), "site shop\n") << "web's route is not touched";
  EXPECT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v1-worker"); })) << "the old worker goes at once";
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
  EXPECT_TRUE(engine_.Has("bim-shop-v1-db"));

  // Nothing changed at all: a release that starts nothing.
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    engine_.started.clear();
  }
  ASSERT_TRUE(DeployCompose(kApp).ok());
  EXPECT_TRUE(Started().empty());
  // Unchanged but no longer running (stopped by hand, or exited): started again from its image.
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    engine_.started.clear();
    Instance& worker = engine_.workloads.at("bim-shop-v2-worker").instances.at(0);
    worker.running = false;
    worker.state = "exited";
  }
  ASSERT_TRUE(DeployCompose(kApp).ok());
  EXPECT_EQ(Started(), std::vector<std::string>{"bim-shop-v4-worker"});
  EXPECT_EQ(WorkloadOf(4, "web"), "bim-shop-v1") << "the running services are still kept";
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    engine_.started.clear();
  }
  // An env change reaches every service, so every one is replaced (db stop-first).
  DeployOutcome changed;
  ASSERT_TRUE(deployer_->ChangeEnv("shop", {{"K", "v"}}, {}, "test", true, [](const nlohmann::json&) {}, nullptr, &changed)
                  .ok());
  EXPECT_EQ(Started(), (std::vector<std::string>{"bim-shop-v5-db", "bim-shop-v5", "bim-shop-v5-worker"}));
}

// The watch after the switch covers one HTTP service replaced start-first (deployer.h): a Compose app
// of several services asking for one is refused in one line, and the server's default skips it.
TEST_F(ComposeDeployerTest, AComposeAppOfSeveralServicesIsNotWatched) {
  options_.watch_window = std::chrono::milliseconds(60000);
  MakeDeployer();
  AppConfig asks;
  asks.health.watch = std::chrono::milliseconds(30000);
  DeployOutcome refused;
  Status s = DeployCompose(kApp, asks, &refused);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("[health] watch is not supported yet for a Compose app of several services"),
            std::string::npos) << s.message();
  EXPECT_EQ(refused.release.id, 0) << "nothing recorded";

  ASSERT_TRUE(DeployCompose(kApp).ok());
  images_.contents["Dockerfile"] = "web-2";
  DeployOutcome out;
  ASSERT_TRUE(DeployCompose(kApp, AppConfig(), &out).ok());
  EXPECT_TRUE(out.watch.is_null()) << out.watch.dump();
  EXPECT_TRUE(Eventually([&] { return !engine_.Has("bim-shop-v1"); })) << "the replaced web retires at once";
  std::vector<Endpoint> route = router_.Route("shop");
  EXPECT_EQ(route.size(), 1u) << RouterLog();
  EXPECT_TRUE(std::none_of(route.begin(), route.end(), [](const Endpoint& e) { return e.standby; })) << RouterLog();
}

TEST_F(ComposeDeployerTest, ABimTomlChangeThatReachesEveryWorkloadReplacesEveryService) {
  ASSERT_TRUE(DeployCompose(kApp).ok());
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    engine_.started.clear();
  }
  // bim.toml [resources] (like [deploy] placement) goes into every service's workload.
  AppConfig config;
  config.resources.memory_bytes = 96 << 20;
  ASSERT_TRUE(DeployCompose(kApp, config).ok());
  EXPECT_EQ(Started(), (std::vector<std::string>{"bim-shop-v2-db", "bim-shop-v2", "bim-shop-v2-worker"}));
  EXPECT_EQ(engine_.specs["bim-shop-v2-worker"].limits.memory_bytes, 96 << 20);
}

TEST_F(ComposeDeployerTest, AFailingWorkerNeverGoesLiveAndLeavesTheOldSetRunning) {
  ASSERT_TRUE(DeployCompose(kApp).ok());
  images_.contents = {{"Dockerfile", "web-2"}, {"Dockerfile.worker", "worker-2"}};
  engine_.exits["bim-shop-v2-worker"] = 2;
  router_.log.clear();
  DeployOutcome out;
  Status s = DeployCompose(kApp, AppConfig(), &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("service worker of v2 exited before becoming healthy (exit code 2)"), std::string::npos)
      << s.message();
  EXPECT_EQ(out.log_tail, std::vector<std::string>{"log line of bim-shop-v2-worker"}) << "the failing service's logs";
  EXPECT_EQ(RouterLog(), "") << "traffic never moved";
  EXPECT_FALSE(engine_.Has("bim-shop-v2")) << "the new web it started is removed again";
  EXPECT_FALSE(engine_.Has("bim-shop-v2-worker"));
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
  EXPECT_TRUE(engine_.Has("bim-shop-v1-worker"));
  EXPECT_TRUE(engine_.Has("bim-shop-v1-db"));
  EXPECT_FALSE(images_.tags.count("bim/shop:v2-worker"));
  App app;
  ASSERT_TRUE(store_->GetApp("shop", &app).ok());
  EXPECT_EQ(app.live_version, 1);
}

TEST_F(ComposeDeployerTest, AServiceOwningAVolumeIsReplacedStopFirstAndComesBackIfTheReleaseFails) {
  ASSERT_TRUE(DeployCompose(kApp).ok());
  std::string v2 = kApp;
  v2.replace(v2.find("local/db:1"), 10, "local/db:2");
  ASSERT_TRUE(DeployCompose(v2).ok());
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    auto removed = std::find(engine_.removed.begin(), engine_.removed.end(), "bim-shop-v1-db");
    ASSERT_NE(removed, engine_.removed.end()) << "the old db is stopped";
    EXPECT_EQ(engine_.started.back(), "bim-shop-v2-db") << "before the new one starts, and nothing else restarts";
  }
  EXPECT_EQ(WorkloadOf(2, "db"), "bim-shop-v2-db");

  // A new db that dies: the release fails and the old one is started again under its own name.
  std::string v3 = kApp;  // back to local/db:1
  engine_.exits["bim-shop-v3-db"] = 1;
  Status s = DeployCompose(v3);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.message();
  EXPECT_TRUE(engine_.Has("bim-shop-v2-db"));
  EXPECT_EQ(engine_.specs["bim-shop-v2-db"].image, "local/db:2");
  EXPECT_FALSE(engine_.Has("bim-shop-v3-db"));
}

TEST_F(ComposeDeployerTest, RollbackRestoresEveryServicesImageAndEnv) {
  ASSERT_TRUE(DeployCompose(kApp, AppConfig(), nullptr, {{"GREETING", "one"}}).ok());
  images_.contents = {{"Dockerfile", "web-2"}, {"Dockerfile.worker", "worker-2"}};
  ASSERT_TRUE(DeployCompose(kApp, AppConfig(), nullptr, {{"GREETING", "two"}}).ok());
  DeployOutcome out;
  Status s = deployer_->Rollback("shop", 1, "test", true, [](const nlohmann::json&) {}, nullptr, &out);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(images_.builds.size(), 4u) << "nothing is rebuilt";
  const WorkloadSpec& worker = engine_.specs[WorkloadOf(3, "worker")];
  EXPECT_EQ(worker.image, "bim/shop:v1-worker");
  EXPECT_NE(std::find(worker.env.begin(), worker.env.end(), "GREETING=one"), worker.env.end());
  EXPECT_EQ(engine_.specs[WorkloadOf(3, "web")].image, "bim/shop:v1");
  EXPECT_EQ(out.release.image_tag, "bim/shop:v1");
  EXPECT_EQ(router_.Route("shop"), engine_.workloads[WorkloadOf(3, "web")].RunningEndpoints());
}

TEST_F(ComposeDeployerTest, ReconcileStartsALiveServiceThatIsGoneAndRoutesEveryHttpService) {
  AppConfig config;
  config.service = "web";
  config.routes = {RouteConfig{"admin", "worker", 9000, "/", {}}};
  ASSERT_TRUE(DeployCompose(kApp, config).ok());
  EXPECT_EQ(router_.sites["shop"].hosts.size(), 2u);
  EXPECT_EQ(router_.sites["shop"].hosts[1].server_names, std::vector<std::string>{"admin.shop.localhost"});
  EXPECT_EQ(router_.sites["shop"].hosts[1].route, "shop.worker");
  engine_.Remove("bim-shop-v1-db", 0);  // a crash during a stop-first replacement
  router_.routes.clear();
  router_.sites.clear();
  ASSERT_TRUE(deployer_->Reconcile().ok());
  EXPECT_TRUE(engine_.Has("bim-shop-v1-db"));
  EXPECT_EQ(router_.Route("shop"), engine_.workloads["bim-shop-v1"].RunningEndpoints());
  EXPECT_EQ(router_.Route("shop.worker"), engine_.workloads["bim-shop-v1-worker"].RunningEndpoints());
  EXPECT_TRUE(engine_.Has("bim-shop-v1"));
}

TEST_F(ComposeDeployerTest, BackupFreezesTheVolumesServicesAndDestroyKeepsVolumesUnlessAsked) {
  ASSERT_TRUE(DeployCompose(kApp).ok());
  std::string archive;
  ASSERT_TRUE(deployer_->BackupVolume("shop", "data", "test", [&](std::string_view chunk) {
                archive += chunk;
                return true;
              }).ok());
  EXPECT_EQ(archive, "tar of bim-inst-shop.data");
  EXPECT_EQ(engine_.freezes, (std::vector<std::string>{"freeze bim-shop-v1-db", "thaw bim-shop-v1-db"}));
  EXPECT_EQ(deployer_->BackupVolume("shop", "nope", "test", [](std::string_view) { return true; }).code(), Code::kNotFound);
  nlohmann::json volumes;
  ASSERT_TRUE(deployer_->ListVolumes("shop", &volumes).ok());
  EXPECT_EQ(volumes["volumes"][0]["name"], "data");
  EXPECT_EQ(volumes["volumes"][0]["services"], nlohmann::json::array({"db"}));

  nlohmann::json removed;
  ASSERT_TRUE(deployer_->Destroy("shop", "test", false, &removed).ok());
  EXPECT_EQ(removed["kept_volumes"], nlohmann::json::array({"data"}));
  EXPECT_TRUE(engine_.volumes.count("bim-inst-shop.data"));
  EXPECT_FALSE(engine_.networks.count("bim-inst-shop"));
  ASSERT_TRUE(DeployCompose(kApp).ok());
  ASSERT_TRUE(deployer_->Destroy("shop", "test", true, &removed).ok());
  EXPECT_EQ(removed["volumes"], nlohmann::json::array({"data"}));
  EXPECT_FALSE(engine_.volumes.count("bim-inst-shop.data"));
}

TEST_F(ComposeDeployerTest, BackupAndRestoreOnAnEngineThatCannotCopyVolumesAreRefusedBeforeAnythingStops) {
  ASSERT_TRUE(DeployCompose(kApp).ok());
  engine_.volume_copies_supported = false;  // as SwarmEngine::CheckVolumeCopies answers
  Status s = deployer_->BackupVolume("shop", "data", "test", [](std::string_view) { return true; });
  EXPECT_EQ(s.message(), "this engine copies no volumes");
  s = deployer_->RestoreVolume("shop", "data", "test", "/nonexistent/data.tar", [](const nlohmann::json&) {});
  EXPECT_EQ(s.message(), "this engine copies no volumes");
  EXPECT_TRUE(engine_.freezes.empty());
  EXPECT_TRUE(engine_.removed.empty()) << "nothing was stopped";
  EXPECT_TRUE(engine_.Has("bim-shop-v1-db"));
}

TEST_F(ComposeDeployerTest, EveryServiceGetsTheAppsLimitsItsOwnOnTopAndNeverAnotherAppsImage) {
  std::string yaml = kApp;
  yaml.insert(yaml.find("    volumes: [data:/data]"), "    deploy: {resources: {limits: {memory: 64M}}}\n");
  ASSERT_TRUE(DeployCompose(yaml).ok());
  const WorkloadSpec& worker = engine_.specs["bim-shop-v1-worker"];
  EXPECT_EQ(worker.limits.memory_bytes, options_.container_limits.memory_bytes) << "the server's default";
  EXPECT_EQ(worker.limits.pids, options_.container_limits.pids);
  EXPECT_EQ(worker.logs.max_size, options_.log_max_size);
  const WorkloadSpec& db = engine_.specs["bim-shop-v1-db"];
  EXPECT_EQ(db.limits.memory_bytes, int64_t{64} << 20) << "the service's own limit";
  EXPECT_EQ(db.limits.pids, options_.container_limits.pids) << "the rest stays the app's";

  std::string big = kApp;
  big.insert(big.find("    volumes: [data:/data]"), "    deploy: {resources: {limits: {memory: 64G}}}\n");
  Status s = DeployCompose(big);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("service db's deploy.resources.limits memory"), std::string::npos) << s.message();

  std::string other = kApp;
  other.replace(other.find("local/db:1"), 10, "bim/other:v1");
  s = DeployCompose(other);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("service db's image: bim/other:v1 is app \"other\"'s image"), std::string::npos)
      << s.message();
}

TEST_F(ComposeDeployerTest, AnImageNeitherOnTheServerNorPullableFailsTheReleaseWithTheFix) {
  std::string yaml = kApp;
  yaml.replace(yaml.find("local/db:1"), 10, "missing/db:9");
  DeployOutcome out;
  Status s = DeployCompose(yaml, AppConfig(), &out);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("service db: image missing/db:9 is not on this server and could not be pulled"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(Started().empty());
  images_.pullable.insert("missing/db:9");
  EXPECT_TRUE(DeployCompose(yaml).ok());
}

}  // namespace
}  // namespace bim
