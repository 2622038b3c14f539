// A Compose app on the Swarm test bed, through the real `bim` CLI and bimd: web (two routes), a worker
// and a db appending to a named volume with a healthcheck (the compose suite's backend). The db's
// volume is kept on one node: the db is pinned there at the first deploy and at every release after
// it, so a release that replaces the db (stop-first) finds its data; the db is live only once
// Swarm's healthcheck passes; the worker reaches it by name over the app's overlay network.
#include <gtest/gtest.h>

#include <regex>

#include "base/file_util.h"
#include "cluster/cluster_env.h"
#include "compose/compose_app.h"
#include "docker/swarm_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

using nlohmann::json;

// The node running the app's db task, by hostname ("" if none runs).
std::string DbNode(const std::string& instance, const std::string& app) {
  SwarmClient swarm(ClusterBed().manager().socket);
  std::vector<ServiceInfo> services;
  std::vector<TaskInfo> tasks;
  std::vector<NodeInfo> nodes;
  swarm.ListServices({{"im.backend.bim.instance", instance}, {"im.backend.bim.app", app}, {"im.backend.bim.service", "db"}},
                     &services);
  swarm.ListNodes(&nodes);
  for (const auto& svc : services) {
    TaskFilter filter;
    filter.services = {svc.id};
    swarm.ListTasks(filter, &tasks);
    for (const auto& t : tasks)
      for (const auto& n : nodes)
        if (t.running() && n.id == t.node_id) return n.hostname;
  }
  return "";
}

// Removes what the test left on the bed's hosts beyond bimd's own cleanup: the volume (on whichever
// node keeps it) and its pin on the node.
void RemoveVolumesOf(const std::string& instance) {
  for (const auto& host : ClusterBed().hosts()) {
    DockerClient docker(host.socket);
    std::vector<VolumeInfo> volumes;
    docker.ListVolumes({{"im.backend.bim.instance", instance}}, false, &volumes);
    for (const auto& v : volumes) docker.RemoveVolume(v.name);
  }
  SwarmClient swarm(ClusterBed().manager().socket);
  std::vector<NodeInfo> nodes;
  swarm.ListNodes(&nodes);
  for (const auto& n : nodes) {
    std::vector<std::string> pins;
    for (const auto& [key, value] : n.labels)
      if (key.starts_with("im.backend.bim.volume.") && value.find(instance) != std::string::npos) pins.push_back(key);
    if (!pins.empty()) swarm.UpdateNode(n.id, {}, "", pins);
  }
}

// Runs RemoveVolumesOf when the test ends, pass or fail, after bimd (declared after it) is gone.
struct VolumeCleanup {
  std::string instance;
  ~VolumeCleanup() {
    if (!instance.empty()) RemoveVolumesOf(instance);
  }
};

TEST(ClusterComposeTest, TheDatabaseStaysOnItsVolumesNodeAcrossReleasesAndKeepsItsData) {
  VolumeCleanup cleanup;
  Bimd bimd(ClusterBimdFlags({"--drain-grace-ms", "2000"}));
  cleanup.instance = bimd.instance();
  const std::string& instance = cleanup.instance;
  std::string app = "cc-" + UniqueSuffix();
  ComposeBackend backend(app);
  BackendKnobs k;
  k.extra_db_keys = "    healthcheck: {test: [\"CMD\", \"/svc\", \"probe\"], interval: 1s, timeout: 2s, retries: 3}\n";
  auto deploy = [&](const char* what) {
    backend.Set(k);
    long long t0 = MonotonicMillis();
    CommandResult r = bimd.Bim({"deploy", backend.path(), "--json"}, 300);
    std::printf("[ cluster  ] compose deploy (%s): exit %d in %lld ms\n", what, r.exit_code, MonotonicMillis() - t0);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\n--- bimd log:\n" << bimd.Log();
    return r.exit_code == 0;
  };
  ASSERT_TRUE(deploy("first"));
  json status = bimd.Bim({"status", app, "--json"}).Json();
  ASSERT_EQ(status["services"].size(), 3u) << status.dump(2);
  for (const auto& svc : status["services"]) {
    EXPECT_TRUE(svc["running"].get<bool>()) << svc.dump();
    if (svc["service"] == "db") {
      EXPECT_EQ(svc["health"], "healthy") << "Swarm's healthcheck of the db: " << svc.dump();
    }
  }
  EXPECT_EQ(bimd.Get(app).body, "Hello from bim! g1\n");
  EXPECT_EQ(HttpGet(bimd.http_port(), "/", "admin." + app + ".localhost").body, "Hello from bim! g1\n");
  std::string logs;
  EXPECT_TRUE(Eventually([&] {
    logs = bimd.Bim({"logs", app, "--service", "worker", "--tail", "5"}).out;
    return logs.find("db says ticks=") != std::string::npos;
  }, 20)) << "the worker reaches db by its service name on the app's overlay network:\n" << logs;
  auto workload_of = [&](const std::string& service) {
    json st = bimd.Bim({"status", app, "--json"}).Json();
    for (const auto& svc : st["services"])
      if (svc["service"] == service) return svc.value("workload", std::string());
    return std::string();
  };
  const std::string worker = workload_of("worker");
  ASSERT_FALSE(worker.empty()) << status.dump(2);
  const std::string node = DbNode(instance, app);
  ASSERT_FALSE(node.empty()) << bimd.Log();
  json volumes = bimd.Bim({"volumes", app, "--json"}).Json();
  ASSERT_EQ(volumes["volumes"].size(), 1u) << volumes.dump(2);
  EXPECT_EQ(volumes["volumes"][0]["name"], "data");

  // Two releases that replace the db (a new image, stop-first) and the web: each db task runs on
  // the node that keeps the volume and continues its count.
  long last_tick = 0;
  for (const char* version : {"d2", "d3"}) {
    k.db_version = version;
    k.greeting = std::string("g-") + version;
    ASSERT_TRUE(deploy(version));
    EXPECT_EQ(DbNode(instance, app), node) << "the db moved off its volume's node";
    EXPECT_EQ(workload_of("worker"), worker) << "the worker's image and env did not change: it keeps running";
    EXPECT_EQ(bimd.Get(app).body, "Hello from bim! g-" + std::string(version) + "\n");
    std::smatch m;
    EXPECT_TRUE(Eventually([&] {
      logs = bimd.Bim({"logs", app, "--service", "db", "--tail", "20"}).out;
      return std::regex_search(logs, m, std::regex(std::string("db ") + version + " started at tick ([0-9]+)"));
    }, 20)) << logs;
    if (!m.empty()) {
      EXPECT_GT(std::stol(m[1].str()), last_tick) << "the volume's data is there:\n" << logs;
      last_tick = std::stol(m[1].str());
    }
  }

  // A rollback restores every service's image (the db back to d2, stop-first, on its node) and keeps
  // the data.
  CommandResult rollback = bimd.Bim({"rollback", app, "--json"}, 300);
  ASSERT_EQ(rollback.exit_code, 0) << rollback.out << rollback.err << "\n--- bimd log:\n" << bimd.Log();
  EXPECT_EQ(bimd.Get(app).body, "Hello from bim! g-d2\n");
  EXPECT_EQ(DbNode(instance, app), node) << "the rolled-back db moved off its volume's node";
  {
    std::smatch m;
    EXPECT_TRUE(Eventually([&] {
      logs = bimd.Bim({"logs", app, "--service", "db", "--tail", "40"}).out;
      return std::regex_search(logs, m, std::regex("db d2 started at tick ([0-9]+)"));
    }, 20)) << logs;
    if (!m.empty()) {
      EXPECT_GT(std::stol(m[1].str()), last_tick) << "the rolled-back db continues the d3 db's count:\n" << logs;
    }
  }

  // Copies are refused, with nothing stopped; destroy --volumes forgets the pin and says where the
  // data is unless it is on the manager.
  CommandResult backup = bimd.Bim({"backup", app, "data", "--json"});
  EXPECT_NE(backup.exit_code, 0);
  EXPECT_NE((backup.out + backup.err).find("not supported on the Swarm engine"), std::string::npos) << backup.out << backup.err;
  EXPECT_EQ(DbNode(instance, app), node);
  CommandResult destroy = bimd.Bim({"destroy", app, "--volumes", "--yes", "--json"});
  EXPECT_EQ(destroy.exit_code, 0) << destroy.out << destroy.err;
  if (node != ClusterBed().manager().netns) {
    EXPECT_NE(destroy.out.find("is kept on node " + node), std::string::npos) << destroy.out << destroy.err;
  }
  // The pin is forgotten: no node still records a volume of this bimd instance.
  SwarmClient swarm(ClusterBed().manager().socket);
  std::vector<NodeInfo> nodes;
  ASSERT_TRUE(swarm.ListNodes(&nodes).ok());
  for (const auto& n : nodes)
    for (const auto& [key, value] : n.labels)
      EXPECT_FALSE(key.starts_with("im.backend.bim.volume.") && value.find(instance) != std::string::npos)
          << n.hostname << " still pins " << key;
}

}  // namespace
}  // namespace bim::testing
