// bimd SIGKILLed at a random moment of a deploy, again and again: whatever step the kill hits, after
// the restart the database, nginx and Docker agree (Recovered), a deploy the CLI reported as done is
// never lost, and the nginx master is the same one. The seed is printed; BIM_CRASH_SEED=N replays it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <random>
#include <signal.h>
#include <thread>

#include "recovery_checks.h"
#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

using nlohmann::json;

// The live release's version per `bim releases --json`, 0 if none.
int64_t LiveVersion(const Bimd& server, const std::string& app) {
  json list = server.Bim({"releases", app, "--json"}).Json();
  if (!list.is_object()) return -1;
  for (const auto& r : list["releases"])
    if (r["status"] == "live") return r["version"].get<int64_t>();
  return 0;
}

TEST(CrashLoopTest, KilledAtRandomMomentsOfDeploysAlwaysRecovers) {
  const char* replay = std::getenv("BIM_CRASH_SEED");
  unsigned seed = replay ? static_cast<unsigned>(std::strtoul(replay, nullptr, 10)) : std::random_device{}();
  std::printf("[ seed     ] BIM_CRASH_SEED=%u\n", seed);
  std::mt19937 rng(seed);

  Bimd server({"--drain-grace-ms", "500", "--keep-releases", "2"});
  std::string app = "kl-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=start\n");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  // A deploy's length on this machine now: kills land anywhere from its start to a little past its end.
  auto deploy_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  const int master = NginxMaster(server);
  std::string live_body = "Hello from bim! start\n";

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int rounds = 0;
  for (int i = 1; i <= 5 && std::chrono::steady_clock::now() < deadline; ++i, ++rounds) {
    SCOPED_TRACE("round " + std::to_string(i) + ", BIM_CRASH_SEED=" + std::to_string(seed));
    int64_t live_before = LiveVersion(server, app);
    ASSERT_GT(live_before, 0);
    std::string greeting = "round-" + std::to_string(i);
    folder.Write(".env", "GREETING=" + greeting + "\n");
    int kill_after_ms = std::uniform_int_distribution<int>(0, static_cast<int>(deploy_ms * 6 / 5))(rng);
    auto deploy = std::async(std::launch::async, [&] { return server.Bim({"deploy", folder.path()}, 120); });
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    server.Stop(SIGKILL);
    CommandResult r = deploy.get();
    server.Start();

    int64_t live_after = LiveVersion(server, app);
    std::printf("[ round %d  ] killed %d ms into the deploy: CLI exit %d, live v%lld -> v%lld\n", i, kill_after_ms,
                r.exit_code, static_cast<long long>(live_before), static_cast<long long>(live_after));
    if (r.exit_code == 0) {
      EXPECT_GT(live_after, live_before) << "a deploy reported done must stay live";
    }
    if (live_after > live_before) {
      live_body = "Hello from bim! " + greeting + "\n";
    } else {
      EXPECT_EQ(live_after, live_before) << "the live release never goes back by itself";
    }
    ASSERT_TRUE(Recovered(server, app, {live_body, master, 2})) << server.Log();
  }
  EXPECT_GE(rounds, 3) << "too few rounds ran in the time bound to mean much";
  // After all that, a plain deploy still works.
  folder.Write(".env", "GREETING=after\n");
  ASSERT_EQ(server.Bim({"deploy", folder.path()}).exit_code, 0);
  EXPECT_TRUE(Recovered(server, app, {"Hello from bim! after\n", master, 2}));
}

}  // namespace
}  // namespace bim::testing
