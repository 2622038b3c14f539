// Crash safety on the real stack: bimd is SIGKILLed at each step of a deploy (frozen there by a
// failpoint), started again, and must serve the last good release with no orphan container, a
// release list that tells the truth, and nothing half-written left behind.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <signal.h>

#include <thread>

#include "base/failpoint.h"
#include "docker/docker_client.h"
#include "support/bimd_harness.h"
#include "core/deploy_plan.h"
#include "recovery_checks.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// One crash: bimd frozen at `failpoint` during `op` and SIGKILLed there.
struct CrashCase {
  const char* op;         // "deploy", "rollback", "env" (bim env set) or "destroy"
  const char* failpoint;
  // What v3 (the release `op` started) is after the restart: "" not recorded (the upload was cut
  // off), "building"/"starting" interrupted and failed, "live" it had been recorded live.
  const char* v3;
};

std::string Hello(const std::string& greeting) { return "Hello from bim! " + greeting + "\n"; }

// Every case starts from v1 ("one") and v2 ("two", live) with --keep-releases 2, kills bimd at the
// failpoint, starts it again and checks that the database, nginx and Docker agree (Recovered): the
// last release that was recorded live serves, through the same nginx master, with no orphan container,
// no image of a failed or pruned release, nothing half-written; then the next release works.
class CrashTest : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashTest, KilledMidReleaseRecoversToWhatTheDatabaseSays) {
  // Failpoints exist only in a test build (base/failpoint.h); without them the release below would
  // never stop where the test kills it.
  ASSERT_TRUE(kFailpointsBuilt) << "this build has no failpoints: configure it with -DBIM_FAILPOINTS=ON "
                                   "(`make test` does) to run the crash tests";
  const CrashCase& c = GetParam();
  const std::string op = c.op;
  Bimd server({"--drain-grace-ms", "1000", "--keep-releases", "2"});
  std::string app = "k-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=one\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  folder.Write(".env", "GREETING=two\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  const int master = NginxMaster(server);
  ASSERT_TRUE(Recovered(server, app, {Hello("two"), master, 2}));
  DockerClient docker;
  std::vector<ContainerInfo> before;
  ASSERT_TRUE(docker.ListContainers({{labels::kApp, app}}, true, &before).ok());
  ASSERT_EQ(before.size(), 1u);

  // Restart bimd with the failpoint armed, and run the operation into it.
  std::string marker = server.data_dir() + "-failpoint";
  server.Stop();
  server.Start({{"BIM_FAILPOINT", c.failpoint}, {"BIM_FAILPOINT_FILE", marker}});
  std::vector<std::string> args;
  std::string after_body = Hello("three");
  if (op == "deploy") {
    folder.Write(".env", "GREETING=three\n");
    folder.Write("release.txt", "v3\n");  // a changed context, so v3 is built (an env change alone reuses an image)
    if (std::string(c.failpoint) == "upload") {
      // New content big enough that the upload is still streaming when the failpoint freezes bimd: only
      // changed files travel, and they must not compress to nothing.
      std::string padding(8 << 20, '\0');
      uint64_t x = 88172645463325252ull;
      for (char& ch : padding) ch = static_cast<char>((x ^= x << 13, x ^= x >> 7, x ^= x << 17));
      std::ofstream(folder.path() + "/padding.bin", std::ios::binary) << padding;
    }
    args = {"deploy", folder.path()};
  } else if (op == "rollback") {
    args = {"rollback", app};
    after_body = Hello("one");
  } else if (op == "env") {
    args = {"env", "set", app, "GREETING=three"};
  } else {
    args = {"destroy", app, "--yes"};
    after_body = "";
  }
  auto running = std::async(std::launch::async, [&] { return server.Bim(args, 120); });
  bool hit = Eventually([&] { return fs::exists(marker); }, 30);
  ASSERT_TRUE(hit) << "failpoint " << c.failpoint << " was never reached\n" << server.Log();
  server.Stop(SIGKILL);
  CommandResult interrupted = running.get();
  EXPECT_NE(interrupted.exit_code, 0) << "the CLI reports the broken " << op;
  fs::remove(marker);

  // Start again, without the failpoint.
  server.Start();
  const std::string v3 = c.v3;
  std::string body = v3 == "live" || op == "destroy" ? after_body : Hello("two");
  EXPECT_TRUE(Recovered(server, app, {body, master, 2}));
  if (op == "destroy") {
    json history = server.Bim({"history", app, "--json"}).Json();
    ASSERT_TRUE(history.is_object()) << server.Log();
    EXPECT_EQ(history["commits"][0]["change"], "destroyed") << "the history records the destroy: " << history.dump();
  } else {
    json releases = server.Bim({"releases", app, "--json"}).Json();
    ASSERT_TRUE(releases.is_object()) << server.Log();
    if (v3.empty()) {
      ASSERT_EQ(releases["releases"].size(), 2u) << "an upload cut off records nothing: " << releases.dump();
    } else {
      ASSERT_EQ(releases["releases"].size(), 3u) << releases.dump();
      EXPECT_EQ(releases["releases"][0]["kind"], op == "env" ? "env" : op);
      if (v3 == "live") {
        EXPECT_EQ(releases["releases"][0]["status"], "live");
        EXPECT_EQ(releases["releases"][1]["status"], "retired");
      } else {
        EXPECT_EQ(releases["releases"][0]["status"], "failed");
        EXPECT_EQ(releases["releases"][0]["failure_reason"], "interrupted: bimd stopped while the release was " + v3);
        std::vector<ContainerInfo> after;
        ASSERT_TRUE(docker.ListContainers({{labels::kApp, app}}, true, &after).ok());
        ASSERT_EQ(after.size(), 1u);
        EXPECT_EQ(after[0].id, before[0].id) << "the live container was not restarted or replaced";
      }
    }
  }

  // And the next release works normally.
  folder.Write(".env", "GREETING=recovered\n");
  fs::remove(folder.path() + "/padding.bin");
  CommandResult next = server.Bim({"deploy", folder.path()});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_TRUE(Recovered(server, app, {Hello("recovered"), master, 2}));
}

INSTANTIATE_TEST_SUITE_P(
    EachStep, CrashTest,
    ::testing::Values(CrashCase{"deploy", "upload", ""}, CrashCase{"deploy", "build", "building"},
                      CrashCase{"deploy", "health", "starting"}, CrashCase{"deploy", "route-written", "starting"},
                      CrashCase{"deploy", "switched", "starting"}, CrashCase{"deploy", "live-recorded", "live"},
                      CrashCase{"rollback", "health", "starting"}, CrashCase{"rollback", "switched", "starting"},
                      CrashCase{"rollback", "live-recorded", "live"}, CrashCase{"env", "health", "starting"},
                      CrashCase{"env", "live-recorded", "live"}, CrashCase{"destroy", "destroy", ""}),
    [](const auto& info) {
      std::string name = std::string(info.param.op) + "_" + info.param.failpoint;
      for (char& ch : name)
        if (ch == '-') ch = '_';
      return name;
    });

TEST(RestartTest, RestartingBimdWithNothingInFlightTouchesNothing) {
  Bimd server;
  std::string app = "k-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=calm\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  DockerClient docker;
  std::vector<ContainerInfo> before;
  ASSERT_TRUE(docker.ListContainers({{"im.backend.bim.app", app}}, true, &before).ok());
  ASSERT_EQ(before.size(), 1u);
  ContainerInfo info_before;
  ASSERT_TRUE(docker.InspectContainer(before[0].id, &info_before).ok());

  ZeroDowntimeProbe probe(server.Target(app));
  probe.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Stop(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Stop(SIGKILL);
  server.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ProofReport report = probe.Stop();
  std::printf("load across two bimd restarts:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! calm\n"}, false));

  ContainerInfo info_after;
  ASSERT_TRUE(docker.InspectContainer(before[0].id, &info_after).ok());
  EXPECT_EQ(info_after.started_at, info_before.started_at) << "the app was not restarted";
  EXPECT_EQ(info_after.restart_count, 0);
}

}  // namespace
}  // namespace bim::testing

namespace bim::testing {
namespace {

TEST(BrokenConfigTest, ATemplateNginxRejectsNeverGoesLive) {
  std::string templates = "/tmp/bim-templates-" + UniqueSuffix();
  fs::create_directories(templates);
  fs::copy(std::string(BIM_SOURCE_DIR) + "/templates/nginx", templates);
  Bimd server({"--templates", templates, "--drain-grace-ms", "1000"});
  std::string app = "k-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=fine\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  std::string config = server.data_dir() + "/nginx/apps.conf";
  std::ifstream in(config);
  std::string before((std::istreambuf_iterator<char>(in)), {});

  // An operator's template mistake: bimd renders templates when it starts, and nginx -t catches it
  // before anything is reloaded. bimd refuses to start, naming nginx's message; nginx keeps serving.
  std::ofstream(templates + "/app.conf.mustache") << "server { listen {{listen}} default_server; proxy_bogus on; }\n";
  server.Stop();
  std::string failure;
  try {
    server.Start();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  EXPECT_NE(failure.find("nginx rejected the config"), std::string::npos) << failure;
  EXPECT_NE(failure.find("unknown directive \"proxy_bogus\""), std::string::npos) << "nginx's own message: " << failure;
  std::ifstream again(config);
  std::string after((std::istreambuf_iterator<char>(again)), {});
  EXPECT_EQ(after, before) << "the previous config is put back";
  EXPECT_EQ(server.Get(app).body, "Hello from bim! fine\n");

  // Fixed, bimd starts and deploys as before.
  fs::copy_file(std::string(BIM_SOURCE_DIR) + "/templates/nginx/app.conf.mustache", templates + "/app.conf.mustache",
                fs::copy_options::overwrite_existing);
  server.Start();
  folder.Write(".env", "GREETING=after\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  EXPECT_EQ(server.Get(app).body, "Hello from bim! after\n");
  fs::remove_all(templates);
}

TEST(InterruptTest, CtrlCDuringADeployCancelsItCleanly) {
  Bimd server({"--drain-grace-ms", "1000"});
  std::string app = "k-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=kept\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  // v2 takes 6 s to start listening: Ctrl-C lands during its health wait.
  folder.Write(".env", "GREETING=cancelled\nSTARTUP_DELAY_MS=6000\n");
  CommandResult r = server.Bim({"deploy", folder.path()}, 60, [](int pid) {
    std::thread([pid] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      kill(pid, SIGINT);
    }).detach();
  });
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_NE(r.err.find("error: interrupted: bimd cancels the release"), std::string::npos) << r.err;
  json releases;
  bool settled = false;
  for (int i = 0; i < 200 && !settled; ++i) {
    releases = server.Bim({"releases", app, "--json"}).Json();
    settled = releases.is_object() && releases["releases"].size() == 2 && releases["releases"][0]["status"] == "failed";
    if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(settled) << releases.dump();
  EXPECT_NE(releases["releases"][0]["failure_reason"].get<std::string>().find("cancelled by the client"),
            std::string::npos)
      << releases.dump();
  EXPECT_EQ(server.Get(app).body, "Hello from bim! kept\n");
  std::vector<ContainerInfo> found;
  ASSERT_TRUE(DockerClient().ListContainers({{"im.backend.bim.app", app}}, true, &found).ok());
  EXPECT_EQ(found.size(), 1u) << "only the live container remains";
}

}  // namespace
}  // namespace bim::testing
