// Watch after the switch (issue 13) on the real stack: a real bimd, dockerd, nginx (+ Lua), SQLite and
// the bim CLI. A release that dies or turns unhealthy after going live is rolled back to the release
// it replaced, under load in both modes with requests in flight, with no failed request; the failed
// release is recorded with why (status, releases, audit, git history) and `bim deploy --wait-watch`
// fails; a release healthy through its window is kept and its predecessor retired; a deploy during
// the window ends the previous watch (README: "Watch after the switch").
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "docker/docker_client.h"
#include "support/bimd_harness.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

using nlohmann::json;

const std::string kBlue = "Hello from bim! blue\n";
const std::string kGreen = "Hello from bim! green\n";
const std::string kRed = "Hello from bim! red\n";

std::vector<std::string> ContainersOf(const std::string& app) {
  std::vector<ContainerInfo> found;
  Status s = DockerClient().ListContainers({{"im.backend.bim.app", app}}, true, &found);
  EXPECT_TRUE(s.ok()) << s.message();
  std::vector<std::string> names;
  for (const auto& c : found) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Names(const std::string& app, std::vector<int> versions) {
  std::vector<std::string> out;
  for (int v : versions) out.push_back("bim-" + app + "-v" + std::to_string(v));
  return out;
}

json Status(const Bimd& server, const std::string& app) {
  CommandResult r = server.Bim({"status", app, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.Json();
}

// The watched release failed: it is recorded so everywhere, with the reason.
void ExpectRolledBack(const Bimd& server, const std::string& app, const std::string& reason_part) {
  json st = Status(server, app);
  EXPECT_EQ(st["live"].value("release", ""), "v1") << st.dump(2);
  const json& v2 = st["latest"];
  EXPECT_EQ(v2.value("release", ""), "v2");
  EXPECT_EQ(v2.value("status", ""), "failed");
  std::string failure = v2.value("failure_reason", "");
  EXPECT_EQ(failure.rfind("rolled back after ", 0), 0u) << failure;
  EXPECT_NE(failure.find(reason_part), std::string::npos) << failure;
  const json& watch = v2["watch"];
  EXPECT_EQ(watch.value("state", ""), "rolled back") << watch.dump(2);
  EXPECT_TRUE(watch["evidence"]["log_tail"].is_array()) << watch.dump(2);
  long long switched = watch["evidence"].value("switched_ms_after_detection", -1LL);
  EXPECT_GE(switched, 0) << watch.dump(2);
  std::printf("%s: v2 failed its watch (%s); traffic was back on v1 %lld ms after the failure was seen\n",
              app.c_str(), failure.c_str(), switched);

  CommandResult audit = server.Bim({"audit", "--app", app});
  EXPECT_NE(audit.out.find("v2 -> v1: rolled back after"), std::string::npos) << audit.out;
  CommandResult history = server.Bim({"history", app});
  EXPECT_NE(history.out.find("automatic rollback from v2 after "), std::string::npos) << history.out;
  CommandResult releases = server.Bim({"releases", app});
  EXPECT_NE(releases.out.find("rolled back after"), std::string::npos) << releases.out;
  EXPECT_TRUE(Eventually([&] { return ContainersOf(app) == Names(app, {1}); }, 20))
      << "the failed release is retired, the one it replaced serves";
}

TEST(WatchTest, AReleaseThatExitsAfterGoingLiveIsRolledBackUnderLoadAndDeployWaitWatchSaysWhy) {
  Bimd server({"--watch", "15s"});
  std::string app = "wa-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=blue\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  ZeroDowntimeProbe load(server.Target(app));
  load.Start();
  // v2 passes its health check, goes live, then exits with code 3 about 10 s after it started.
  folder.Write(".env", "GREETING=green\nEXIT_AFTER_MS=10000\n");
  CommandResult r = server.Bim({"deploy", folder.path(), "--wait-watch"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("v2 was rolled back to v1 after it exited with code 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exiting as EXIT_AFTER_MS asked"), std::string::npos) << "its last log lines: " << r.err;
  EXPECT_TRUE(Eventually([&] { return load.LastBody() == kBlue; }, 5));
  ProofReport report = load.Stop();
  std::printf("load across v2 dying and the automatic rollback:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {kBlue, kGreen}, true));
  EXPECT_GT(report.fresh.by_body[kGreen], 0) << "v2 served before it died";
  ExpectRolledBack(server, app, "it exited with code 3");
  json st = Status(server, app);
  EXPECT_EQ(st["latest"]["watch"]["evidence"].value("exit_code", 0), 3);
}

TEST(WatchTest, AReleaseThatTurnsUnhealthyIsRolledBackUnderLoadAndStatusShowedTheWatch) {
  Bimd server({"--watch", "15s"});
  std::string app = "wu-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=blue\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  ZeroDowntimeProbe load(server.Target(app));
  load.Start();
  // v2 answers / fine but its /healthz turns 503 4 s after it started.
  folder.Write(".env", "GREETING=green\nUNHEALTHY_AFTER_MS=4000\n");
  CommandResult r = server.Bim({"deploy", folder.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("watched for 15.0s"), std::string::npos) << r.out;
  CommandResult st = server.Bim({"status", app});
  EXPECT_NE(st.out.find("Watch:    watching v2: "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("v1 stays ready to take over"), std::string::npos) << st.out;
  json j = Status(server, app);
  EXPECT_EQ(j["watch"].value("release", ""), "v2") << j.dump(2);
  EXPECT_GT(j["watch"].value("seconds_left", 0), 0);
  EXPECT_EQ(ContainersOf(app), Names(app, {1, 2})) << "v1 keeps running out of routing during the window";

  ASSERT_TRUE(Eventually([&] { return Status(server, app)["live"].value("release", "") == "v1"; }, 30))
      << server.Log();
  EXPECT_TRUE(Eventually([&] { return load.LastBody() == kBlue; }, 5));
  ProofReport report = load.Stop();
  std::printf("load across v2 turning unhealthy and the automatic rollback:\n%s\n", report.Summary().c_str());
  EXPECT_TRUE(NoDowntime(report, {kBlue, kGreen}, true));
  ExpectRolledBack(server, app, "health checks in a row failed");
  EXPECT_TRUE(Status(server, app)["watch"].is_null()) << "no watch runs any more";
}

TEST(WatchTest, AReleaseHealthyThroughItsWindowIsKeptAndItsPredecessorRetired) {
  Bimd server({"--watch", "60s"});  // bim.toml's [health] watch wins over the server's default
  std::string app = "wk-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=blue\n");
  folder.Write("bim.toml", "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/healthz\"\nwatch = \"8s\"\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  ZeroDowntimeProbe load(server.Target(app));
  load.Start();
  folder.Write(".env", "GREETING=green\n");
  CommandResult r = server.Bim({"deploy", folder.path(), "--wait-watch"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("healthy through its 8.0s watch"), std::string::npos) << r.out;
  EXPECT_TRUE(Eventually([&] { return ContainersOf(app) == Names(app, {2}); }, 20)) << "v1 is retired";
  ProofReport report = load.Stop();
  EXPECT_TRUE(NoDowntime(report, {kBlue, kGreen}, true));
  json st = Status(server, app);
  EXPECT_EQ(st["live"].value("release", ""), "v2");
  EXPECT_EQ(st["live"]["watch"].value("state", ""), "passed") << st.dump(2);

  // "0" turns the watch off: the replaced release goes at once, nothing is watched.
  folder.Write("bim.toml", "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/healthz\"\nwatch = \"0\"\n");
  folder.Write(".env", "GREETING=red\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  EXPECT_TRUE(Status(server, app)["watch"].is_null());
  EXPECT_TRUE(Eventually([&] { return ContainersOf(app) == Names(app, {3}); }, 20));
}

TEST(WatchTest, ADeployDuringTheWindowEndsThePreviousWatchAndRetiresItsStandby) {
  Bimd server({"--watch", "30s"});
  std::string app = "wd-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=blue\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  ZeroDowntimeProbe load(server.Target(app));
  load.Start();
  folder.Write(".env", "GREETING=green\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  EXPECT_EQ(Status(server, app)["watch"].value("release", ""), "v2");
  folder.Write(".env", "GREETING=red\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return load.LastBody() == kRed; }, 5));
  ProofReport report = load.Stop();
  EXPECT_TRUE(NoDowntime(report, {kBlue, kGreen, kRed}, true));

  // The rule: v3 ends v2's watch; v2 (what v3 replaced) is v3's standby now, v1 is retired.
  json st = Status(server, app);
  EXPECT_EQ(st["watch"].value("release", ""), "v3") << st.dump(2);
  EXPECT_EQ(st["watch"].value("standby", ""), "v2");
  CommandResult releases = server.Bim({"releases", app, "--json"});
  json list = releases.Json()["releases"];
  ASSERT_TRUE(list.is_array()) << releases.out;
  auto v2 = std::find_if(list.begin(), list.end(), [](const json& r) { return r.value("release", "") == "v2"; });
  ASSERT_NE(v2, list.end());
  EXPECT_EQ((*v2)["watch"].value("state", ""), "ended") << v2->dump(2);
  EXPECT_NE((*v2)["watch"].value("reason", "").find("a newer deploy started"), std::string::npos) << v2->dump(2);
  EXPECT_TRUE(Eventually([&] { return ContainersOf(app) == Names(app, {2, 3}); }, 20));
}

}  // namespace
}  // namespace bim::testing
