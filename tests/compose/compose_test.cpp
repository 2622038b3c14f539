// Whole backends from a Compose file, on the real stack (real bimd, dockerd, nginx, SQLite, the bim
// CLI): a web service on two routes, a worker and a database appending to a named volume.
//   - five deploys under load through nginx lose no request; each replaces exactly the services that
//     changed; the database is the same container throughout and its data is all there;
//   - a rollback restores every service's image and env and keeps the data;
//   - a failing worker or web release never goes live and leaves the old set running;
//   - unsupported Compose keys are refused by name; backup/restore round-trips the volume;
//   - bimd SIGKILLed in the middle of a release brings every service back to the live release.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <set>

#include "base/file_util.h"
#include "compose/compose_app.h"
#include "core/ipv4_net.h"
#include "docker/local_engine.h"
#include "support/bimd_harness.h"
#include "support/load_generator.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Body(const std::string& greeting) { return "Hello from bim! " + greeting + "\n"; }

// The strict zero-downtime probe (support/zero_downtime.h: new-connection and keep-alive load
// without re-sends, a latency bound, slow requests in flight across every switch) on both of web's
// routes.
class Traffic {
 public:
  Traffic(const Bimd& server, const std::string& app)
      : main_(server.Target(app), Options(100)),
        admin_(HttpTarget{"127.0.0.1", server.http_port(), "admin." + app + ".localhost", "/"}, Options(50)),
        app_(app) {}
  void Start() {
    main_.Start();
    admin_.Start();
  }
  std::string LastBody() { return main_.LastBody(); }
  // Stops, checks nothing failed (bodies[0] first served; `switched`: web changed meanwhile), and
  // prints the figures.
  void StopAndExpectNoFailure(const std::vector<std::string>& bodies, bool switched) {
    ProofReport main = main_.Stop(), admin = admin_.Stop();
    std::printf("load on %s.localhost: %s\nload on admin.%s.localhost: %s\n", app_.c_str(), main.Summary().c_str(),
                app_.c_str(), admin.Summary().c_str());
    EXPECT_TRUE(NoDowntime(main, bodies, switched));
    EXPECT_TRUE(NoDowntime(admin, bodies, switched));
  }

 private:
  static ProofOptions Options(int rate) {
    ProofOptions o;
    o.rate_per_mode = rate;
    o.slow.duration = std::chrono::milliseconds(1500);
    o.slow.in_flight = 3;
    return o;
  }
  ZeroDowntimeProbe main_, admin_;
  std::string app_;
};

CommandResult Deploy(const Bimd& server, ComposeBackend& backend, const BackendKnobs& knobs) {
  backend.Set(knobs);
  return server.Bim({"deploy", backend.path(), "--json"}, 300);
}

// The one running container of `service`, once the replaced ones are retired.
ServiceContainer Only(const std::string& app, const std::string& service) {
  std::map<std::string, std::vector<ServiceContainer>> all;
  Eventually([&] { return (all = ContainersByService(app))[service].size() == 1; }, 30);
  EXPECT_EQ(all[service].size(), 1u) << service;
  return all[service].empty() ? ServiceContainer{} : all[service][0];
}

std::map<std::string, std::string> Backup(const Bimd& server, const std::string& app) {
  std::string path = server.data_dir() + "-backup.tar";
  CommandResult r = RunProcess({"/bin/sh", "-c", "\"$0\" backup \"$1\" data > \"$2\"", BuildPath("bim"), app, path},
                               {{"BIM_SERVER", "http://127.0.0.1:" + std::to_string(server.api_port())},
                                {"BIM_TOKEN", server.token()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path, std::ios::binary);
  std::string tar((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(path);
  return TarMembers(tar);
}

CommandResult Restore(const Bimd& server, const std::string& app, const std::string& tar) {
  std::string path = server.data_dir() + "-restore.tar";
  std::ofstream(path, std::ios::binary) << tar;
  CommandResult r = RunProcess({"/bin/sh", "-c", "\"$0\" restore \"$1\" data --json < \"$2\"", BuildPath("bim"), app, path},
                               {{"BIM_SERVER", "http://127.0.0.1:" + std::to_string(server.api_port())},
                                {"BIM_TOKEN", server.token()}});
  fs::remove(path);
  return r;
}

std::set<std::string> Ids(const std::string& app) {
  std::set<std::string> ids;
  for (const auto& [service, containers] : ContainersByService(app))
    for (const auto& c : containers) ids.insert(service + " " + c.name + " " + c.id);
  return ids;
}

TEST(ComposeTest, FiveDeploysUnderLoadReplaceOnlyWhatChangedAndTheDatabaseKeepsItsContainerAndData) {
  Bimd server({"--drain-grace-ms", "5000", "--settle-ms", "500"});
  std::string app = "cmp-" + UniqueSuffix();
  ComposeBackend backend(app);
  BackendKnobs k;
  CommandResult r = Deploy(server, backend, k);
  ASSERT_EQ(r.exit_code, 0) << r.err << server.Log();

  json status = server.Bim({"status", app, "--json"}).Json();
  ASSERT_EQ(status["services"].size(), 3u) << status.dump();
  for (const auto& svc : status["services"]) EXPECT_TRUE(svc["running"].get<bool>()) << svc.dump();
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(server.Get(app).body, Body("g1"));
  EXPECT_EQ(HttpGet(server.http_port(), "/", "admin." + app + ".localhost").body, Body("g1")) << "web's second route";
  std::string worker_logs;
  EXPECT_TRUE(Eventually([&] {
    worker_logs = server.Bim({"logs", app, "--service", "worker", "--tail", "5"}).out;
    return worker_logs.find("worker w1: db says ticks=") != std::string::npos;
  }, 5)) << "the worker reaches db by its service name on the app's network:\n" << worker_logs;
  CommandResult all_logs = server.Bim({"logs", app, "--tail", "3"});
  EXPECT_NE(all_logs.out.find("worker | worker w1"), std::string::npos) << all_logs.out;
  EXPECT_NE(all_logs.out.find("db | db d1 started"), std::string::npos) << all_logs.out;
  ServiceContainer db = Only(app, "db"), worker = Only(app, "worker"), web = Only(app, "web");
  EXPECT_EQ(db.name, "bim-" + app + "-v1-db");
  // The services' network is carved from bimd's own subnet pool (--app-subnets), like every app's.
  const LocalEngineOptions defaults;
  Ipv4Net pool, net;
  ASSERT_TRUE(ParseIpv4Net(defaults.app_subnet_pool, &pool).ok());
  std::map<std::string, std::string> networks = AppNetworkSubnets(app);
  EXPECT_EQ(networks.size(), 1u) << "one private network for all of the app's services";
  for (const auto& [name, subnet] : networks) {
    ASSERT_TRUE(ParseIpv4Net(subnet, &net).ok()) << name << " has subnet \"" << subnet << "\"";
    EXPECT_EQ(net.prefix, defaults.app_subnet_prefix) << name << " " << subnet;
    EXPECT_TRUE(net.address >= pool.address && net.last() <= pool.last()) << name << " " << subnet << " is outside " << pool.ToString();
  }

  struct Step {
    std::string greeting, worker_version;
    bool web_changes, worker_changes;
  };
  const std::vector<Step> steps = {{"g2", "w1", true, false},
                                   {"g2", "w2", false, true},
                                   {"g3", "w3", true, true},
                                   {"g3", "w3", false, false},
                                   {"g4", "w3", true, false}};
  Traffic traffic(server, app);
  traffic.Start();
  std::string worker_image_v3;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    k.greeting = step.greeting;
    k.worker_version = step.worker_version;
    long long t0 = MonotonicMillis();
    r = Deploy(server, backend, k);
    ASSERT_EQ(r.exit_code, 0) << "deploy " << i + 2 << ": " << r.err;
    std::printf("deploy v%zu (web %s, worker %s): %lld ms\n", i + 2, step.web_changes ? "replaced" : "kept",
                step.worker_changes ? "replaced" : "kept", MonotonicMillis() - t0);
    EXPECT_TRUE(Eventually([&] { return traffic.LastBody() == Body(step.greeting); }, 10));
    ServiceContainer db_now = Only(app, "db"), worker_now = Only(app, "worker"), web_now = Only(app, "web");
    EXPECT_EQ(db_now.id, db.id) << "the db container is the same one throughout";
    EXPECT_TRUE(db_now.running);
    EXPECT_EQ(db_now.restarts, 0);
    EXPECT_EQ(worker_now.id != worker.id, step.worker_changes) << "deploy " << i + 2 << ": worker";
    EXPECT_EQ(web_now.id != web.id, step.web_changes) << "deploy " << i + 2 << ": web";
    worker = worker_now;
    web = web_now;
    if (i == 1) worker_image_v3 = worker.image_id;
  }

  // A rollback (still under load) to v3 (g2, w2) restores every service's image and env.
  r = server.Bim({"rollback", app, "--to", "v3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Eventually([&] { return traffic.LastBody() == Body("g2"); }, 10));
  EXPECT_EQ(Only(app, "worker").image_id, worker_image_v3);
  EXPECT_EQ(Only(app, "db").id, db.id) << "the db's definition did not change: not restarted";
  traffic.StopAndExpectNoFailure({Body("g1"), Body("g2"), Body("g3"), Body("g4")}, true);

  std::map<std::string, std::string> data = Backup(server, app);
  DbLog log = ReadDbLog(data["db.log"]);
  EXPECT_EQ(log.starts, std::vector<std::string>{"d1"}) << "the db ran once, start to end";
  EXPECT_TRUE(log.contiguous) << "every tick it wrote is there";
  EXPECT_GT(log.ticks, 10);
  EXPECT_EQ(data["seed.bin"].size(), 64u << 10);

  // Releases that fail never go live and leave the old set running as it was.
  std::set<std::string> before = Ids(app);
  BackendKnobs failing = k;
  failing.greeting = "g2";
  failing.worker_version = "w2";
  failing.worker_fails = 3;
  r = Deploy(server, backend, failing);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("exited before becoming healthy (exit code 3)"), std::string::npos) << r.err;
  EXPECT_TRUE(Eventually([&] { return Ids(app) == before; }, 20)) << "the old set runs, untouched";
  failing = k;
  failing.greeting = "g9";
  failing.web_health = 500;
  r = Deploy(server, backend, failing);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("did not become healthy"), std::string::npos) << r.err;
  EXPECT_TRUE(Eventually([&] { return Ids(app) == before; }, 20));
  EXPECT_EQ(server.Get(app).body, Body("g2"));

  // Unsupported keys are refused by name before anything is built.
  json releases = server.Bim({"releases", app, "--json"}).Json();
  failing = k;
  failing.extra_web_keys = "    networks: [front]\n";
  r = Deploy(server, backend, failing);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("services.web.networks is not supported by bim"), std::string::npos) << r.err;
  EXPECT_EQ(server.Bim({"releases", app, "--json"}).Json()["releases"].size(), releases["releases"].size());

  // Backup and restore: a restored archive is what the volume holds afterwards, byte for byte, and
  // nothing of what was there before survives it.
  json volumes = server.Bim({"volumes", app, "--json"}).Json();
  ASSERT_EQ(volumes["volumes"].size(), 1u) << volumes.dump();
  EXPECT_EQ(volumes["volumes"][0]["name"], "data");
  EXPECT_GT(volumes["volumes"][0]["size_bytes"].get<int64_t>(), 64 << 10);
  std::map<std::string, std::string> original = Backup(server, app);
  std::string seed(70000, '\0');
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<char>((i * 7919) >> 3);
  r = Restore(server, app, MakeTar({{"seed.bin", seed}, {"db.log", "start restored\ntick 1\ntick 2\n"}, {"note.txt", "hi\n"}}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> restored = Backup(server, app);
  EXPECT_TRUE(restored["seed.bin"] == seed) << "byte for byte";
  EXPECT_EQ(restored["note.txt"], "hi\n");
  EXPECT_TRUE(restored["db.log"].starts_with("start restored\ntick 1\ntick 2\n")) << restored["db.log"].substr(0, 200);
  EXPECT_TRUE(ReadDbLog(restored["db.log"]).contiguous) << "the db carried on from the restored data";
  r = Restore(server, app, MakeTar(original));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  restored = Backup(server, app);
  EXPECT_TRUE(restored["seed.bin"] == original["seed.bin"]);
  EXPECT_TRUE(restored["db.log"].starts_with(original["db.log"]));
  EXPECT_EQ(restored.count("note.txt"), 0u) << "a restore replaces the volume's contents";
  EXPECT_EQ(server.Get(app).body, Body("g2"));

  // Destroy keeps the data unless asked, and says so.
  json destroyed = server.Bim({"destroy", app, "--yes", "--json"}).Json();
  EXPECT_EQ(destroyed["kept_volumes"], json::array({"data"})) << destroyed.dump();
  EXPECT_TRUE(ContainersByService(app).empty());
  r = Deploy(server, backend, k);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  data = Backup(server, app);
  EXPECT_TRUE(data["seed.bin"] == original["seed.bin"]) << "a new deploy of the app finds its data again";
  destroyed = server.Bim({"destroy", app, "--yes", "--volumes", "--json"}).Json();
  EXPECT_EQ(destroyed["volumes"], json::array({"data"})) << destroyed.dump();
}

TEST(ComposeTest, BimdKilledMidReleaseBringsEveryServiceBackToTheLiveRelease) {
  Bimd server({"--drain-grace-ms", "3000", "--settle-ms", "500"});
  std::string app = "cmk-" + UniqueSuffix();
  ComposeBackend backend(app);
  BackendKnobs k;
  ASSERT_EQ(Deploy(server, backend, k).exit_code, 0) << server.Log();
  ServiceContainer web = Only(app, "web"), worker = Only(app, "worker");
  Traffic traffic(server, app);
  traffic.Start();

  // Every service changes; db (it owns a volume) is replaced stop-first and starts first, so bimd
  // freezes right after the old db was stopped and the new one started.
  std::string marker = server.data_dir() + "-failpoint";
  server.Stop();
  server.Start({{"BIM_FAILPOINT", "health"}, {"BIM_FAILPOINT_FILE", marker}});
  BackendKnobs next{"g2", "w2", "d2"};
  backend.Set(next);
  auto deploy = std::async(std::launch::async, [&] { return server.Bim({"deploy", backend.path()}, 120); });
  ASSERT_TRUE(Eventually([&] { return fs::exists(marker); }, 120)) << server.Log();
  EXPECT_EQ(ContainersByService(app)["db"].size(), 1u);
  EXPECT_EQ(ContainersByService(app)["db"][0].name, "bim-" + app + "-v2-db") << "the old db was stopped first";
  server.Stop(SIGKILL);
  EXPECT_NE(deploy.get().exit_code, 0);
  fs::remove(marker);

  server.Start();
  std::map<std::string, std::vector<ServiceContainer>> after;
  EXPECT_TRUE(Eventually([&] {
    after = ContainersByService(app);
    return after["db"].size() == 1 && after["db"][0].name == "bim-" + app + "-v1-db" && after["db"][0].running;
  }, 30)) << "the live release's db runs again";
  EXPECT_EQ(after["web"].size(), 1u);
  EXPECT_EQ(after["web"][0].id, web.id) << "the live web was never touched";
  EXPECT_EQ(after["worker"].size(), 1u);
  EXPECT_EQ(after["worker"][0].id, worker.id);
  json releases = server.Bim({"releases", app, "--json"}).Json();
  ASSERT_EQ(releases["releases"].size(), 2u) << releases.dump();
  EXPECT_EQ(releases["releases"][0]["status"], "failed");
  EXPECT_EQ(releases["releases"][0]["failure_reason"], "interrupted: bimd stopped while the release was starting");
  EXPECT_EQ(server.Get(app).body, Body("g1"));
  EXPECT_TRUE(Eventually([&] {
    return server.Bim({"logs", app, "--service", "worker", "--tail", "3"}).out.find("worker w1: db says") != std::string::npos;
  })) << "the worker reaches the restarted db";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  traffic.StopAndExpectNoFailure({Body("g1")}, false);  // web never changed: v1 served throughout

  DbLog log = ReadDbLog(Backup(server, app)["db.log"]);
  EXPECT_TRUE(log.contiguous) << "no write of either db was lost or interleaved";
  EXPECT_EQ(log.starts.front(), "d1");
  EXPECT_EQ(log.starts.back(), "d1") << "the live release's db is what runs now";

  // And the next deploy goes through as if nothing happened.
  CommandResult r = Deploy(server, backend, next);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server.Get(app).body, Body("g2"));
}

}  // namespace
}  // namespace bim::testing
