// bim on a Docker Swarm of three test hosts, through the real `bim` CLI and a real bimd whose nginx,
// registry and API run on host 1 (the manager): replicated deploys and rolling releases under load,
// rollback, env changes, a failing release, scale, placement, nodes, a host dying under load, and
// bimd killed mid-release.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "base/file_util.h"
#include "base/health_probe.h"
#include "cluster/cluster_env.h"
#include "docker/swarm_client.h"
#include "support/bimd_harness.h"
#include "support/load_generator.h"

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// bim.toml of the hello app with `replicas` and optional placement.
std::string Toml(const std::string& app, int replicas, const std::string& health_timeout = "60s",
                 const std::string& placement = "") {
  std::string toml = "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/healthz\"\ntimeout = \"" +
                     health_timeout + "\"\n[deploy]\nreplicas = " + std::to_string(replicas) + "\n";
  if (!placement.empty()) toml += "placement = [\"" + placement + "\"]\n";
  return toml;
}

// Load through bimd's nginx in both connection modes at once (support/load_generator.h): keep-alive
// that never re-sends a request on a reused connection, and a new connection per request. Each counts
// every error and non-2xx answer and records every latency.
class BothModesLoad {
 public:
  BothModesLoad(int port, std::string host)
      : keepalive_(Target(port, host), {ConnectionMode::kKeepAlive, 2, 80}),
        fresh_(Target(port, host), {ConnectionMode::kNewPerRequest, 1, 40}) {}
  void Start() {
    keepalive_.Start();
    fresh_.Start();
  }
  // {keep-alive, new connection per request}
  std::pair<LoadReport, LoadReport> Stop() {
    LoadReport keepalive = keepalive_.Stop();
    return {keepalive, fresh_.Stop()};
  }

 private:
  static HttpTarget Target(int port, const std::string& host) {
    HttpTarget t;
    t.port = port;
    t.host = host;
    return t;
  }
  LoadGenerator keepalive_, fresh_;
};

// Both modes served every request.
void ExpectNoFailure(const std::pair<LoadReport, LoadReport>& load, const std::string& during) {
  for (const auto* r : {&load.first, &load.second}) {
    const char* mode = r == &load.first ? "keep-alive" : "new connection per request";
    std::printf("[ cluster  ] %s, %s: %s\n", during.c_str(), mode, r->Summary().c_str());
    EXPECT_GT(r->requests, 20) << mode;
    if (r == &load.first) EXPECT_GT(r->reused, r->requests / 2) << "keep-alive load reused its connections";
    EXPECT_EQ(r->errors, 0) << mode << ": " << r->Summary();
    EXPECT_EQ(r->non_2xx, 0) << mode << ": " << r->Summary();  // errors include any request over 5 s
  }
}

class ClusterDeployTest : public ::testing::Test {
 protected:
  void SetUp() override {
    flags_ = ClusterBimdFlags({"--drain-grace-ms", "3000"});
    bimd_ = std::make_unique<Bimd>(flags_);
    app_ = "c-" + UniqueSuffix();
  }

  // `bim deploy` of the folder; fails the test (with bimd's log) unless it exits `expect`.
  CommandResult Deploy(const AppFolder& folder, int expect = 0) {
    long long t0 = MonotonicMillis();
    CommandResult r = bimd_->Bim({"deploy", folder.path(), "--json"}, 240);
    std::printf("[ cluster  ] deploy of %s: exit %d in %lld ms\n", app_.c_str(), r.exit_code, MonotonicMillis() - t0);
    EXPECT_EQ(r.exit_code, expect) << r.out << r.err << "\n--- bimd log:\n" << bimd_->Log();
    return r;
  }

  json Status() { return bimd_->Bim({"status", app_, "--json"}).Json(); }

  // The live release's running instances: endpoint -> node.
  std::map<std::string, std::string> Running() {
    std::map<std::string, std::string> out;
    json s = Status();
    for (const json& i : s.value("instances", json::array()))
      if (i.value("running", false)) out[i.value("endpoint", "")] = i.value("node", "");
    return out;
  }

  // The Swarm services of this bimd (what reconcile must keep to the live releases).
  std::vector<ServiceInfo> Services() {
    std::vector<ServiceInfo> services;
    SwarmClient(ClusterBed().manager().socket).ListServices({{"im.backend.bim.instance", bimd_->instance()}}, &services);
    return services;
  }

  std::string HostnameOf(const std::string& name) { return ClusterBed().host(name).netns; }

  std::vector<std::string> flags_;
  std::unique_ptr<Bimd> bimd_;
  std::string app_;
};

TEST_F(ClusterDeployTest, ThreeReplicasAcrossThreeHostsRollFiveReleasesRollBackAndChangeEnvUnderLoadWithoutAFailure) {
  AppFolder folder(app_, "GREETING=v1\n");
  folder.Write("bim.toml", Toml(app_, 3));
  Deploy(folder);
  std::map<std::string, std::string> running = Running();
  ASSERT_EQ(running.size(), 3u) << Status().dump(2);
  std::set<std::string> nodes;
  for (const auto& [endpoint, node] : running) nodes.insert(node);
  EXPECT_EQ(nodes.size(), 3u) << "one replica per host";
  EXPECT_EQ(Status().value("state", ""), "running (3/3 instances)");
  EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! v1\n");

  BothModesLoad load(bimd_->http_port(), app_ + ".localhost");
  load.Start();
  // Five rolling releases (v2..v6) under the load, then a rollback, an env change and a failing release.
  for (int v = 2; v <= 6; ++v) {
    folder.Write(".env", "GREETING=v" + std::to_string(v) + "\n");
    Deploy(folder);
    EXPECT_EQ(Running().size(), 3u) << "v" << v;
  }
  EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! v6\n");

  CommandResult rollback = bimd_->Bim({"rollback", app_, "--json"});
  EXPECT_EQ(rollback.exit_code, 0) << rollback.err << bimd_->Log();
  EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! v5\n");

  CommandResult env = bimd_->Bim({"env", "set", app_, "EXTRA=1", "--json"});
  EXPECT_EQ(env.exit_code, 0) << env.err << bimd_->Log();

  // A release whose tasks never become healthy never goes live: the old tasks keep serving.
  folder.Write(".env", "GREETING=broken\nHEALTH_STATUS=500\n");
  folder.Write("bim.toml", Toml(app_, 3, "5s"));
  CommandResult failed = Deploy(folder, 1);
  EXPECT_NE(failed.err.find("did not become healthy"), std::string::npos) << failed.err;
  EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! v5\n");

  ExpectNoFailure(load.Stop(), "5 releases, a rollback, an env change and a failed release");

  json releases = bimd_->Bim({"releases", app_, "--json"}).Json();
  ASSERT_EQ(releases["releases"].size(), 9u) << releases.dump(2);
  EXPECT_EQ(releases["releases"][0]["status"], "failed");
  EXPECT_EQ(releases["releases"][1]["status"], "live");
  EXPECT_EQ(releases["releases"][1]["kind"], "env");
  EXPECT_EQ(releases["releases"][1]["replicas"], 3);
  EXPECT_NE(releases["releases"][1]["engine_image"].get<std::string>().find("@sha256:"), std::string::npos);
  EXPECT_EQ(releases["releases"][2]["kind"], "rollback");
  // Only the live release's service is left once the old ones drained.
  EXPECT_TRUE(Eventually([&] { return Services().size() == 1; }, 30)) << Services().size() << " services";
  EXPECT_EQ(Services()[0].name, releases["releases"][1]["container"].get<std::string>());
}

TEST_F(ClusterDeployTest, ScaleIsAReleaseNodesShowsTheTasksAndPlacementPinsOrFailsClearly) {
  AppFolder folder(app_, "GREETING=s\n");
  folder.Write("bim.toml", Toml(app_, 1));
  Deploy(folder);
  ASSERT_EQ(Running().size(), 1u);

  CommandResult up = bimd_->Bim({"scale", app_, "3", "--json"});
  ASSERT_EQ(up.exit_code, 0) << up.err << bimd_->Log();
  EXPECT_EQ(up.Json()["details"]["kind"], "scale");
  EXPECT_EQ(Running().size(), 3u);

  json nodes = bimd_->Bim({"nodes", "--json"}).Json();
  ASSERT_TRUE(nodes.is_object());
  EXPECT_EQ(nodes["engine"], "swarm");
  ASSERT_EQ(nodes["nodes"].size(), ClusterBed().hosts().size()) << nodes.dump(2);
  // The scale release's tasks; the previous release's single task may still be draining and listed.
  const std::string scaled = up.Json()["details"]["release"].get<std::string>();
  int tasks = 0;
  for (const json& n : nodes["nodes"]) {
    EXPECT_EQ(n["state"], "ready");
    EXPECT_EQ(n["warning"], "");
    for (const json& t : n["tasks"])
      tasks += t["app"] == app_ && t["release"] == scaled && t["state"] == "running";
  }
  EXPECT_EQ(tasks, 3) << nodes.dump(2);
  CommandResult text = bimd_->Bim({"nodes"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find(HostnameOf("h2")), std::string::npos) << text.out;

  // The count sticks for releases that do not name one (this bim.toml does not).
  folder.Write("bim.toml", "app = \"" + app_ + "\"\nport = 8080\n[health]\npath = \"/healthz\"\n");
  folder.Write(".env", "GREETING=s2\n");
  Deploy(folder);
  EXPECT_EQ(Running().size(), 3u);

  // Placement: every replica on host 2.
  folder.Write("bim.toml", Toml(app_, 2, "60s", "node.hostname==" + HostnameOf("h2")));
  Deploy(folder);
  std::map<std::string, std::string> pinned = Running();
  ASSERT_EQ(pinned.size(), 2u);
  for (const auto& [endpoint, node] : pinned) EXPECT_EQ(node, HostnameOf("h2")) << endpoint;

  // A constraint no host meets fails the release clearly; the pinned release keeps serving.
  folder.Write("bim.toml", Toml(app_, 2, "5s", "node.labels.bim-test-zone==mars"));
  CommandResult unplaceable = Deploy(folder, 1);
  EXPECT_NE(unplaceable.err.find("no suitable node"), std::string::npos) << unplaceable.err;
  EXPECT_EQ(Running(), pinned);

  // Bad input is refused before anything runs.
  folder.Write("bim.toml", Toml(app_, 2, "5s", "zone==mars"));
  CommandResult bad = bimd_->Bim({"deploy", folder.path()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown attribute"), std::string::npos) << bad.err;
  EXPECT_EQ(bimd_->Bim({"scale", app_, "0"}).exit_code, 2);
  EXPECT_EQ(bimd_->Bim({"scale", app_, "101"}).exit_code, 2);
}

TEST_F(ClusterDeployTest, AHostDyingUnderLoadLosesNoIdempotentRequestAndSwarmRestoresTheReplicas) {
  AppFolder folder(app_, "GREETING=steady\n");
  folder.Write("bim.toml", Toml(app_, 3));
  Deploy(folder);
  ASSERT_EQ(Running().size(), 3u);

  struct Revive {
    ~Revive() {
      std::string error;
      if (!ClusterBed().ReviveHost("h3", &error)) ADD_FAILURE() << "reviving h3: " << error;
    }
  } revive;
  BothModesLoad load(bimd_->http_port(), app_ + ".localhost");
  load.Start();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  long long t0 = MonotonicMillis();
  std::string error;
  ASSERT_TRUE(ClusterBed().KillHost("h3", &error)) << error;
  const std::string dead = HostnameOf("h3");

  // Full capacity again: three running replicas, none on the dead host.
  bool restored = Eventually(
      [&] {
        auto running = Running();
        if (running.size() != 3) return false;
        for (const auto& [endpoint, node] : running)
          if (node == dead) return false;
        return true;
      },
      120);
  long long restored_ms = MonotonicMillis() - t0;
  std::printf("[ cluster  ] host killed under load: full capacity after %lld ms\n", restored_ms);
  ExpectNoFailure(load.Stop(), "a host killed");
  ASSERT_TRUE(restored) << Status().dump(2);

  json nodes = bimd_->Bim({"nodes", "--json"}).Json();
  bool reported = false;
  for (const json& n : nodes["nodes"]) {
    if (n["hostname"] != dead) continue;
    reported = n["state"] == "down" && n["warning"].get<std::string>().find("nothing is routed to it") != std::string::npos;
  }
  EXPECT_TRUE(reported) << nodes.dump(2);

  // A release while the host is down succeeds on the remaining hosts.
  folder.Write(".env", "GREETING=after\n");
  Deploy(folder);
  EXPECT_EQ(Running().size(), 3u);
  EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! after\n");
}

TEST_F(ClusterDeployTest, BimdKilledMidReleaseReconcilesWithSwarmLeavingNoOrphanService) {
  AppFolder folder(app_, "GREETING=good\n");
  folder.Write("bim.toml", Toml(app_, 2));
  Deploy(folder);
  ASSERT_EQ(Services().size(), 1u);
  std::string live_service = Services()[0].name;

  for (const char* failpoint : {"health", "switched"}) {
    std::string marker = bimd_->data_dir() + "-failpoint";
    bimd_->Stop();
    bimd_->Start({{"BIM_FAILPOINT", failpoint}, {"BIM_FAILPOINT_FILE", marker}});
    folder.Write(".env", std::string("GREETING=") + failpoint + "\n");
    auto deploy = std::async(std::launch::async, [&] { return bimd_->Bim({"deploy", folder.path()}, 240); });
    ASSERT_TRUE(Eventually([&] { return fs::exists(marker); }, 180)) << failpoint << "\n" << bimd_->Log();
    EXPECT_EQ(Services().size(), 2u) << "the new release's service exists when bimd dies";
    bimd_->Stop(SIGKILL);
    EXPECT_NE(deploy.get().exit_code, 0);
    fs::remove(marker);
    bimd_->Start();

    json releases = bimd_->Bim({"releases", app_, "--json"}).Json();
    const json& newest = releases["releases"][0];
    if (std::string(failpoint) == "health") {
      // Killed before the switch: the new release failed, its service is gone, the old one serves.
      EXPECT_EQ(newest["status"], "failed");
      EXPECT_NE(newest["failure_reason"].get<std::string>().find("interrupted"), std::string::npos);
      EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! good\n");
      ASSERT_EQ(Services().size(), 1u);
      EXPECT_EQ(Services()[0].name, live_service);
    } else {
      // Killed after the switch but before it was recorded: the database still names the old
      // release, so reconcile routes back to it and removes the new service.
      EXPECT_EQ(newest["status"], "failed") << releases.dump(2);
      EXPECT_EQ(bimd_->Get(app_).body, "Hello from bim! good\n");
      EXPECT_TRUE(Eventually([&] { return Services().size() == 1; }, 30));
      EXPECT_EQ(Services()[0].name, live_service);
    }
    EXPECT_EQ(Running().size(), 2u);
  }
}

TEST(ClusterEngineTest, EngineSwarmOnADockerdOutsideASwarmRefusesToStart) {
  // The machine's own dockerd is not in a swarm (only read here: GET /info).
  std::string dir = fs::temp_directory_path().string() + "/bim-cluster-refuse-" + UniqueSuffix();
  CommandResult r = RunProcess({BuildPath("bimd"), "--data-dir", dir, "--listen", "127.0.0.1:1", "--engine",
                                "swarm", "--docker-socket", "/var/run/docker.sock"},
                               {}, 60);
  std::error_code ec;
  fs::remove_all(dir, ec);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not in a swarm"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("docker swarm init"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bim::testing
