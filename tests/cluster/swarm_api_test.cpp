// The docker layer's Swarm calls and the registry bimd manages, on the real test bed: three dockerds
// in a swarm, Debian's docker-registry on host 1, pushes and pulls between them.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <set>

#include "base/health_probe.h"
#include "base/file_util.h"
#include "base/paths.h"
#include "cluster/cluster_env.h"
#include "docker/docker_client.h"
#include "docker/swarm_client.h"
#include "support/bimd_harness.h"
#include "support/context_tar.h"
#include "swarm/registry.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;

class SwarmApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("bim-swarm-api-" + UniqueSuffix())).string();
    fs::create_directories(dir_);
    label_ = "bim-swarm-api-" + UniqueSuffix();
  }
  void TearDown() override {
    SwarmClient swarm(ClusterBed().manager().socket);
    std::vector<ServiceInfo> services;
    swarm.ListServices({{"bim.test", label_}}, &services);
    for (const auto& s : services) swarm.RemoveService(s.id);
    DockerClient docker(ClusterBed().manager().socket);
    std::vector<ImageInfo> images;
    docker.ListImages({{"bim.test", label_}}, &images);
    for (const auto& img : images)
      for (const auto& tag : img.tags) docker.RemoveImage(tag, false);
    if (registry_) registry_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts a registry on host 1's address at a free port, as bimd does.
  Registry* StartRegistry() {
    int port = 0;
    PickFreeLoopbackPort(&port);
    RegistryOptions options;
    options.dir = dir_ + "/registry";
    options.listen = ClusterBed().manager().address + ":" + std::to_string(port);
    options.template_dir = FindTemplateDir("registry", "config.yml.mustache");
    registry_ = std::make_unique<Registry>(options);
    Status s = registry_->Start();
    EXPECT_TRUE(s.ok()) << s.message();
    return registry_.get();
  }

  // Builds the hello image on host 1 with an extra file (so each build differs in its top layer).
  std::string BuildHello(const std::string& tag, const std::string& extra) {
    std::string tar = dir_ + "/ctx.tar", error;
    std::string binary;
    EXPECT_TRUE(ReadFile(BuildPath("examples/hello-server"), &binary).ok());
    EXPECT_TRUE(WriteContextTar(tar,
                                {{"Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCOPY extra /extra\n"
                                                "CMD [\"/hello-server\"]\n"},
                                 {"hello-server", binary},
                                 {"extra", extra}},
                                &error))
        << error;
    BuildOptions build;
    build.context_tar_path = tar;
    build.tag = tag;
    build.labels = {{"bim.test", label_}};
    std::string id;
    Status s = DockerClient(ClusterBed().manager().socket).BuildImage(build, nullptr, &id);
    EXPECT_TRUE(s.ok()) << s.message();
    return id;
  }

  std::string dir_;
  std::string label_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(SwarmApiTest, ManagerSeesEveryHostReadyWithItsOwnAddressAndHostname) {
  SwarmClient swarm(ClusterBed().manager().socket);
  SwarmState state;
  ASSERT_TRUE(swarm.Info(&state).ok());
  EXPECT_TRUE(state.active());
  EXPECT_TRUE(state.is_manager);
  EXPECT_EQ(state.node_addr, ClusterBed().manager().address);

  SwarmState worker;
  ASSERT_TRUE(SwarmClient(ClusterBed().host("h2").socket).Info(&worker).ok());
  EXPECT_TRUE(worker.active());
  EXPECT_FALSE(worker.is_manager);
  std::vector<NodeInfo> nodes;
  Status s = SwarmClient(ClusterBed().host("h2").socket).ListNodes(&nodes);
  EXPECT_EQ(s.code(), Code::kUnavailable) << "a worker cannot list nodes: " << s.message();

  ASSERT_TRUE(swarm.ListNodes(&nodes).ok());
  ASSERT_GE(nodes.size(), 3u);
  std::set<std::string> hostnames;
  for (const auto& h : ClusterBed().hosts()) {
    auto n = std::find_if(nodes.begin(), nodes.end(), [&](const NodeInfo& n) { return n.id == h.node_id; });
    ASSERT_NE(n, nodes.end()) << h.name;
    EXPECT_EQ(n->address, h.address);
    EXPECT_EQ(n->state, "ready");
    EXPECT_TRUE(n->usable());
    EXPECT_EQ(n->role, h.name == "h1" ? "manager" : "worker");
    EXPECT_EQ(n->leader, h.name == "h1");
    hostnames.insert(n->hostname);
  }
  EXPECT_EQ(hostnames.size(), ClusterBed().hosts().size());
}

TEST_F(SwarmApiTest, RegistryIsAdoptedAcrossRestartsAndPushSendsOnlyMissingLayers) {
  Registry* registry = StartRegistry();
  ASSERT_TRUE(registry->Ping().ok());
  int pid = registry->Pid();
  ASSERT_GT(pid, 0);
  // A second bimd (or a restarted one) with the same config adopts the running registry.
  RegistryOptions same;
  same.dir = dir_ + "/registry";
  same.listen = registry->address();
  same.template_dir = FindTemplateDir("registry", "config.yml.mustache");
  ASSERT_TRUE(Registry(same).Start().ok());
  EXPECT_EQ(Registry(same).Pid(), pid);

  DockerClient docker(ClusterBed().manager().socket);
  std::string repo = registry->Repository("bim/" + label_);
  BuildHello(repo + ":v1", "one");
  PushResult first, second;
  Status s = docker.PushImage(repo, "v1", nullptr, &first);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(first.layers_pushed, 2);
  EXPECT_EQ(first.layers_present, 0);
  EXPECT_EQ(first.digest.rfind("sha256:", 0), 0u) << first.digest;
  // v2 shares the hello-server layer: only the new top layer travels.
  BuildHello(repo + ":v2", "two");
  ASSERT_TRUE((s = docker.PushImage(repo, "v2", nullptr, &second)).ok()) << s.message();
  EXPECT_EQ(second.layers_pushed, 1);
  EXPECT_EQ(second.layers_present, 1);
  EXPECT_NE(second.digest, first.digest);

  // A registry that is not running: the push fails with Docker's reason, not a hang.
  ASSERT_TRUE(registry->Stop().ok());
  EXPECT_EQ(registry->Pid(), 0);
  s = docker.PushImage(repo, "v2", nullptr, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.message();
}

TEST_F(SwarmApiTest, ServiceSpreadsOverHostsOnHostModePortsAndEachTaskAnswers) {
  Registry* registry = StartRegistry();
  DockerClient docker(ClusterBed().manager().socket);
  std::string repo = registry->Repository("bim/" + label_);
  BuildHello(repo + ":v1", "x");
  PushResult pushed;
  ASSERT_TRUE(docker.PushImage(repo, "v1", nullptr, &pushed).ok());

  SwarmClient swarm(ClusterBed().manager().socket);
  SwarmServiceSpec spec;
  spec.name = label_;
  spec.labels = {{"bim.test", label_}};
  spec.container_labels = {{"bim.test", label_}};
  spec.image = repo + ":v1@" + pushed.digest;
  spec.env = {"GREETING=from-swarm"};
  spec.replicas = 3;
  spec.target_port = 8080;
  spec.stop_grace_seconds = 1;
  spec.logs.max_size = "1m";
  std::string id;
  Status s = swarm.CreateService(spec, &id);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(swarm.CreateService(spec, nullptr).code(), Code::kConflict);

  ServiceInfo info;
  ASSERT_TRUE(swarm.InspectService(label_, &info).ok());
  EXPECT_EQ(info.id, id);
  EXPECT_EQ(info.replicas, 3);
  EXPECT_EQ(info.target_port, 8080);
  EXPECT_EQ(info.labels["bim.test"], label_);

  std::vector<TaskInfo> running;
  ASSERT_TRUE(Eventually(
      [&] {
        std::vector<TaskInfo> tasks;
        if (!swarm.ListTasks({{id}, "running", ""}, &tasks).ok()) return false;
        running.clear();
        for (const auto& t : tasks)
          if (t.running() && t.published_port > 0) running.push_back(t);
        return running.size() == 3;
      },
      90));
  std::map<std::string, std::string> address_of;
  for (const auto& h : ClusterBed().hosts()) address_of[h.node_id] = h.address;
  std::set<std::string> nodes;
  for (const auto& t : running) {
    nodes.insert(t.node_id);
    ASSERT_TRUE(address_of.count(t.node_id));
    std::string address = address_of[t.node_id];
    EXPECT_EQ(HttpStatusAt(address, t.published_port, "/healthz"), 200) << address << ":" << t.published_port;
  }
  EXPECT_EQ(nodes.size(), 3u) << "one task per host";

  std::vector<std::string> lines;
  ASSERT_TRUE(swarm.ServiceLogs(id, 10, false, [&](std::string_view l) { lines.emplace_back(l); }).ok());

  std::vector<ServiceInfo> listed;
  ASSERT_TRUE(swarm.ListServices({{"bim.test", label_}}, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  ASSERT_TRUE(swarm.RemoveService(id).ok());
  EXPECT_EQ(swarm.RemoveService(id).code(), Code::kNotFound);
  ASSERT_TRUE(swarm.ListServices({{"bim.test", label_}}, &listed).ok());
  EXPECT_TRUE(listed.empty());
}

TEST_F(SwarmApiTest, ServiceWithAnUnplaceableConstraintStaysPendingWithSwarmsReason) {
  SwarmClient swarm(ClusterBed().manager().socket);
  SwarmServiceSpec spec;
  spec.name = label_;
  spec.labels = {{"bim.test", label_}};
  spec.image = "127.0.0.1:1/none:v1";
  spec.constraints = {"node.labels.bim-test-zone==nowhere"};
  std::string id;
  ASSERT_TRUE(swarm.CreateService(spec, &id).ok());
  std::vector<TaskInfo> tasks;
  ASSERT_TRUE(Eventually(
      [&] { return swarm.ListTasks({{id}, "", ""}, &tasks).ok() && !tasks.empty() && !tasks[0].error.empty(); }, 30));
  EXPECT_EQ(tasks[0].state, "pending");
  EXPECT_NE(tasks[0].error.find("no suitable node"), std::string::npos) << tasks[0].error;

  spec.name = label_ + "-bad";
  spec.constraints = {"this is not a constraint"};
  Status s = swarm.CreateService(spec, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("constraint expected one operator"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("rpc error"), std::string::npos) << "gRPC's wrapping is noise: " << s.message();
}

}  // namespace
}  // namespace bim::testing
