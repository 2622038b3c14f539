// Issue 3 on the real stack: zero-downtime deploys under load, rollback, env releases, one release
// per app at a time, self-healing status.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "docker/docker_client.h"
#include "support/bimd_harness.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

using nlohmann::json;

class ReleaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Bimd({"--drain-grace-ms", "10000"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { app_ = "r-" + UniqueSuffix(); }
  static Bimd* server_;
  std::string app_;
};
Bimd* ReleaseTest::server_ = nullptr;


// Ten switches under both load modes with slow requests in flight: with a reload per switch, nginx's
// old workers reset idle keep-alive connections (a request sent on one at that moment is lost, which
// libcurl used to re-send silently); routes as data make the switch reload-free.
TEST_F(ReleaseTest, TenDeploysUnderLoadDropNoRequest) {
  AppFolder folder(app_, "GREETING=blue\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  ZeroDowntimeProbe probe(server_->Target(app_));
  probe.Start();
  for (int i = 0; i < 10; ++i) {
    std::string color = i % 2 == 0 ? "green" : "blue";
    folder.Write(".env", "GREETING=" + color + "\n");
    CommandResult r = server_->Bim({"deploy", folder.path()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(Eventually([&] { return probe.LastBody() == "Hello from bim! " + color + "\n"; }, 5))
        << "responses switch to " << color;
  }
  ProofReport report = probe.Stop();
  std::printf("load during 10 deploys:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! blue\n", "Hello from bim! green\n"}, true));
  EXPECT_GT(report.fresh.by_body["Hello from bim! green\n"], 0);
  EXPECT_GT(report.fresh.by_body["Hello from bim! blue\n"], 0);
}

TEST_F(ReleaseTest, NeverHealthyReleaseUnderLoadDropsNothing) {
  AppFolder folder(app_, "GREETING=steady\n", "3s");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  ZeroDowntimeProbe probe(server_->Target(app_));
  probe.Start();
  folder.Write(".env", "GREETING=broken\nHEALTH_STATUS=500\n");
  CommandResult r = server_->Bim({"deploy", folder.path()});
  EXPECT_EQ(r.exit_code, 1);
  ProofReport report = probe.Stop();
  std::printf("load during a failed deploy:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! steady\n"}, false)) << "only the old version ever answered";
}

// Rollback, env set and env unset are releases too: each runs under both load modes with slow
// requests in flight across its switch.
TEST_F(ReleaseTest, RollbackAndEnvChangesUnderLoadDropNoRequest) {
  AppFolder folder(app_, "GREETING=first\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  folder.Write(".env", "GREETING=second\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  auto under_load = [&](const std::vector<std::string>& args, const std::string& before, const std::string& after) {
    ZeroDowntimeProbe probe(server_->Target(app_));
    probe.Start();
    CommandResult r = server_->Bim(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(Eventually([&] { return probe.LastBody() == after; }, 5)) << "responses switch to " << after;
    ProofReport report = probe.Stop();
    std::printf("load during `bim %s`:\n%s\n", args[0].c_str(), report.Summary().c_str());
    EXPECT_TRUE(NoDowntime(report, {before, after}, true)) << "bim " << args[0] << "\nbimd:\n" << server_->Log() << "nginx:\n" << server_->NginxErrors();
  };
  under_load({"rollback", app_}, "Hello from bim! second\n", "Hello from bim! first\n");
  under_load({"env", "set", app_, "GREETING=third"}, "Hello from bim! first\n", "Hello from bim! third\n");
  under_load({"env", "unset", app_, "GREETING"}, "Hello from bim! third\n", "Hello from bim! \n");
}

TEST_F(ReleaseTest, RollbackRunsTheOldImageWithItsEnvWithoutRebuilding) {
  AppFolder folder(app_, "GREETING=first\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  folder.Write(".env", "GREETING=second\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  ASSERT_EQ(server_->Get(app_).body, "Hello from bim! second\n");

  auto t0 = std::chrono::steady_clock::now();
  CommandResult r = server_->Bim({"rollback", app_, "--json"});
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! first\n");
  std::printf("rollback end to end (CLI start to v1 serving): %lld ms\n", static_cast<long long>(took.count()));
  json doc = r.Json();
  EXPECT_EQ(doc["release"], "v3");
  EXPECT_EQ(doc["details"]["kind"], "rollback");
  EXPECT_EQ(doc["details"]["image"], "bim/" + app_ + ":v1") << "the v1 image, not a rebuild";
  EXPECT_EQ(doc["details"]["build_ms"], 0);

  // Explicit target, and refusals that name the fix.
  r = server_->Bim({"rollback", app_, "--to", "v2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! second\n");
  r = server_->Bim({"rollback", app_, "--to", "v99"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("no release v99"), std::string::npos) << r.err;
}

TEST_F(ReleaseTest, OldImagesArePrunedBeyondKeepReleases) {
  AppFolder folder(app_, "GREETING=0\n");
  for (int i = 1; i <= 7; ++i) {
    folder.Write(".env", "GREETING=" + std::to_string(i) + "\n");
    folder.Write("build.txt", std::to_string(i));  // a changed context builds a new image (env alone would reuse one)
    ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  }
  DockerClient docker;
  ImageInfo image;
  EXPECT_TRUE(docker.InspectImage("bim/" + app_ + ":v1", &image).IsNotFound()) << "v1 pruned (keep 5)";
  EXPECT_TRUE(docker.InspectImage("bim/" + app_ + ":v2", &image).IsNotFound()) << "v2 pruned (keep 5)";
  EXPECT_TRUE(docker.InspectImage("bim/" + app_ + ":v3", &image).ok()) << "v3..v7 kept";
  CommandResult r = server_->Bim({"rollback", app_, "--to", "v1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("was pruned"), std::string::npos) << r.err;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! 7\n");
}

TEST_F(ReleaseTest, EnvChangesAreReleasesAndValuesStayMasked) {
  AppFolder folder(app_, "GREETING=from-dotenv\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);

  CommandResult r = server_->Bim({"env", "set", app_, "GREETING=from-env-set", "EXTRA=a=b", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["details"]["kind"], "env");
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! from-env-set\n");

  CommandResult list = server_->Bim({"env", "list", app_, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.find("from-env-set"), std::string::npos) << "masked by default: " << list.out;
  json revealed = server_->Bim({"env", "list", app_, "--reveal", "--json"}).Json();
  bool saw = false;
  for (const auto& var : revealed["env"]) saw |= var["key"] == "EXTRA" && var["value"] == "a=b";
  EXPECT_TRUE(saw) << revealed.dump();

  ASSERT_EQ(server_->Bim({"env", "unset", app_, "GREETING"}).exit_code, 0);
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! \n");

  // Deploy merges: stored env (EXTRA) stays, the folder's .env wins for its keys.
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! from-dotenv\n");
  json after = server_->Bim({"env", "list", app_, "--reveal", "--json"}).Json();
  saw = false;
  for (const auto& var : after["env"]) saw |= var["key"] == "EXTRA";
  EXPECT_TRUE(saw) << "stored env survives a deploy: " << after.dump();

  r = server_->Bim({"env", "set", app_, "BAD-KEY=1"});
  EXPECT_EQ(r.exit_code, 2);
  r = server_->Bim({"env", "set", app_, "NOEQUALS"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ReleaseTest, ConcurrentDeploysOfOneAppRunInOrderAndOthersInParallel) {
  AppFolder a1(app_, "GREETING=first\n"), a2(app_, "GREETING=second\n");
  auto first = std::async(std::launch::async, [&] { return server_->Bim({"deploy", a1.path(), "--json"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto second = std::async(std::launch::async, [&] { return server_->Bim({"deploy", a2.path(), "--json"}); });
  CommandResult r1 = first.get(), r2 = second.get();
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(r1.Json()["release"], "v1");
  EXPECT_EQ(r2.Json()["release"], "v2");
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! second\n") << "the second deploy is live";

  // --no-wait fails at once naming what runs.
  AppFolder slow(app_, "GREETING=slow\nSTARTUP_DELAY_MS=1500\n");
  auto running = std::async(std::launch::async, [&] { return server_->Bim({"deploy", slow.path()}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CommandResult busy = server_->Bim({"deploy", a1.path(), "--no-wait"});
  EXPECT_EQ(busy.exit_code, 6) << busy.err;
  EXPECT_NE(busy.err.find("is busy with deploy v3"), std::string::npos) << busy.err;
  EXPECT_EQ(running.get().exit_code, 0);

  // Two different apps at once both succeed.
  std::string other = "r-" + UniqueSuffix();
  AppFolder b(other, "GREETING=other\n"), c(app_, "GREETING=mine\n");
  auto x = std::async(std::launch::async, [&] { return server_->Bim({"deploy", b.path()}); });
  auto y = std::async(std::launch::async, [&] { return server_->Bim({"deploy", c.path()}); });
  EXPECT_EQ(x.get().exit_code, 0);
  EXPECT_EQ(y.get().exit_code, 0);
  EXPECT_EQ(server_->Get(other).body, "Hello from bim! other\n");
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! mine\n");
}

TEST_F(ReleaseTest, ACrashingContainerIsRestartedAndStatusSaysSo) {
  AppFolder folder(app_, "GREETING=flaky\nEXIT_AFTER_MS=1500\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  json st;
  ASSERT_TRUE(Eventually([&] {
    st = server_->Bim({"status", app_, "--json"}).Json();
    return st.is_object() && st.contains("container") && st["container"]["restarts"].get<int>() >= 1;
  })) << st.dump();
  EXPECT_EQ(st["container"]["exit_code"], 3);
  CommandResult human = server_->Bim({"status", app_});
  EXPECT_NE(human.out.find("last exit code 3"), std::string::npos) << human.out;
}

}  // namespace
}  // namespace bim::testing
