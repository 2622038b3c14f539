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
#include "support/load_generator.h"

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct CrashCase {
  const char* failpoint;
  const char* interrupted_status;  // how the release list must describe v2, "" if v2 was never recorded
};

class CrashTest : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashTest, KilledMidDeployRecoversToTheLastGoodRelease) {
  // Failpoints exist only in a test build (base/failpoint.h); without them the deploy below would
  // never stop where the test kills it.
  ASSERT_TRUE(kFailpointsBuilt) << "this build has no failpoints: configure it with -DBIM_FAILPOINTS=ON "
                                   "(`make test` does) to run the crash tests";
  const CrashCase& c = GetParam();
  Bimd server({"--drain-grace-ms", "1000"});
  std::string app = "k-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=good\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  DockerClient docker;
  std::vector<ContainerInfo> before;
  docker.ListContainers({{"im.backend.bim.app", app}}, true, &before);
  ASSERT_EQ(before.size(), 1u);

  // Restart bimd with the failpoint armed, and deploy v2 into it.
  std::string marker = server.data_dir() + "-failpoint";
  server.Stop();
  server.Start({{"BIM_FAILPOINT", c.failpoint}, {"BIM_FAILPOINT_FILE", marker}});
  folder.Write(".env", "GREETING=doomed\n");
  folder.Write("release.txt", "v2\n");  // a changed context, so v2 is built (an env change alone reuses v1's image)
  if (std::string(c.failpoint) == "upload") {
    // New content big enough that the upload is still streaming when the failpoint freezes bimd: only
    // changed files travel, and they must not compress to nothing.
    std::string padding(8 << 20, '\0');
    uint64_t x = 88172645463325252ull;
    for (char& ch : padding) ch = static_cast<char>((x ^= x << 13, x ^= x >> 7, x ^= x << 17));
    std::ofstream(folder.path() + "/padding.bin", std::ios::binary) << padding;
  }
  auto deploy = std::async(std::launch::async, [&] { return server.Bim({"deploy", folder.path()}, 120); });
  bool hit = false;
  for (int i = 0; i < 600 && !hit; ++i) {
    hit = fs::exists(marker);
    if (!hit) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(hit) << "failpoint " << c.failpoint << " was never reached\n" << server.Log();
  server.Stop(SIGKILL);
  CommandResult interrupted = deploy.get();
  EXPECT_NE(interrupted.exit_code, 0) << "the CLI reports the broken deploy";
  fs::remove(marker);

  // Start again, without the failpoint.
  server.Start();
  HttpResult page = server.Get(app);
  EXPECT_EQ(page.status, 200) << page.error;
  EXPECT_EQ(page.body, "Hello from bim! good\n") << "the last good release serves";

  std::vector<ContainerInfo> after;
  docker.ListContainers({{"im.backend.bim.app", app}}, true, &after);
  ASSERT_EQ(after.size(), 1u) << "no orphan container";
  EXPECT_EQ(after[0].id, before[0].id) << "the live container was not restarted or replaced";
  EXPECT_TRUE(after[0].running);

  json releases = server.Bim({"releases", app, "--json"}).Json();
  ASSERT_TRUE(releases.is_object()) << server.Log();
  if (*c.interrupted_status) {
    ASSERT_EQ(releases["releases"].size(), 2u) << releases.dump();
    EXPECT_EQ(releases["releases"][0]["status"], "failed");
    EXPECT_EQ(releases["releases"][0]["failure_reason"],
              std::string("interrupted: bimd stopped while the release was ") + c.interrupted_status);
    EXPECT_EQ(releases["releases"][1]["status"], "live");
  } else {
    ASSERT_EQ(releases["releases"].size(), 1u) << "an upload cut off records nothing: " << releases.dump();
    EXPECT_EQ(releases["releases"][0]["status"], "live");
  }
  // Nothing half-written: no temp files in the nginx dirs, no leftover uploads.
  for (const auto& dir : {server.data_dir() + "/nginx", server.data_dir() + "/nginx/apps", server.data_dir() + "/uploads"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      EXPECT_EQ(name.find(".tmp-"), std::string::npos) << e.path();
      if (dir.ends_with("uploads")) ADD_FAILURE() << "leftover upload " << e.path();
    }
  }
  // And the next deploy works normally.
  folder.Write(".env", "GREETING=recovered\n");
  fs::remove(folder.path() + "/padding.bin");
  CommandResult next = server.Bim({"deploy", folder.path()});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(server.Get(app).body, "Hello from bim! recovered\n");
}

INSTANTIATE_TEST_SUITE_P(EachStep, CrashTest,
                         ::testing::Values(CrashCase{"upload", ""}, CrashCase{"build", "building"},
                                           CrashCase{"health", "starting"}, CrashCase{"route-written", "starting"},
                                           CrashCase{"switched", "starting"}),
                         [](const auto& info) {
                           std::string name = info.param.failpoint;
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
  docker.ListContainers({{"im.backend.bim.app", app}}, true, &before);
  ASSERT_EQ(before.size(), 1u);
  ContainerInfo info_before;
  ASSERT_TRUE(docker.InspectContainer(before[0].id, &info_before).ok());

  LoadGenerator load(server.http_port(), app + ".localhost", "/", 2, 200);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Stop(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.Stop(SIGKILL);
  server.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  LoadReport report = load.Stop();
  std::printf("load across two bimd restarts: %s\n", report.Summary().c_str());
  EXPECT_EQ(report.non_2xx, 0) << report.Summary();
  EXPECT_EQ(report.errors, 0) << report.Summary();

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
  DockerClient().ListContainers({{"im.backend.bim.app", app}}, true, &found);
  EXPECT_EQ(found.size(), 1u) << "only the live container remains";
}

}  // namespace
}  // namespace bim::testing
