// SwarmEngine on the real test bed: publishing through bimd's registry, one service per workload with
// host-mode ports, instances that follow Swarm's tasks, events, and a node that cannot pull.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "base/file_util.h"
#include "base/health_probe.h"
#include "base/paths.h"
#include "cluster/cluster_env.h"
#include "core/deploy_plan.h"
#include "docker/docker_client.h"
#include "support/bimd_harness.h"
#include "support/context_tar.h"
#include "swarm/registry.h"
#include "swarm/swarm_engine.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;

class SwarmEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("bim-swarm-engine-" + UniqueSuffix())).string();
    fs::create_directories(dir_);
    instance_ = "test-" + UniqueSuffix();
    int port = 0;
    PickFreeLoopbackPort(&port);
    RegistryOptions options;
    options.dir = dir_ + "/registry";
    options.listen = ClusterBed().manager().address + ":" + std::to_string(port);
    options.template_dir = FindTemplateDir("registry", "config.yml.mustache");
    registry_ = std::make_unique<Registry>(options);
    Status s = registry_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
    docker_ = std::make_unique<DockerClient>(ClusterBed().manager().socket);
    SwarmEngineOptions engine_options;
    engine_options.docker_socket = ClusterBed().manager().socket;
    engine_options.poll_interval = std::chrono::milliseconds(200);
    engine_ = std::make_unique<SwarmEngine>(engine_options, docker_.get(), registry_.get());
  }

  void TearDown() override {
    std::vector<Workload> left;
    engine_->List({{labels::kInstance, instance_}}, &left);
    for (const auto& w : left) engine_->Remove(w.name, 1);
    std::vector<ImageInfo> images;
    docker_->ListImages({{labels::kInstance, instance_}}, &images);
    for (const auto& img : images)
      for (const auto& tag : img.tags) docker_->RemoveImage(tag, false);
    registry_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Builds the hello image as bim/<app>:v1 on host 1 and publishes it; returns the engine reference.
  std::string PublishHello(const std::string& app) {
    std::string tar = dir_ + "/ctx.tar", error;
    EXPECT_TRUE(WriteHelloContextTar(tar, &error)) << error;
    BuildOptions build;
    build.context_tar_path = tar;
    build.tag = "bim/" + app + ":v1";
    build.labels = {{labels::kInstance, instance_}};
    std::string id, ref;
    Status s = docker_->BuildImage(build, nullptr, &id);
    EXPECT_TRUE(s.ok()) << s.message();
    s = engine_->PublishImage(build.tag, &ref);
    EXPECT_TRUE(s.ok()) << s.message();
    return ref;
  }

  WorkloadSpec Spec(const std::string& app, const std::string& image, int replicas) {
    WorkloadSpec spec;
    spec.name = "bim-" + app + "-v1";
    spec.image = image;
    spec.env = {"GREETING=" + app};
    spec.labels = {{labels::kInstance, instance_}, {labels::kApp, app}, {labels::kRelease, "v1"}};
    spec.container_port = 8080;
    spec.replicas = replicas;
    spec.stop_grace_seconds = 1;
    return spec;
  }

  // Waits until the workload has `n` running instances; returns them.
  std::vector<Endpoint> WaitRunning(const std::string& name, size_t n, int seconds = 90) {
    std::vector<Endpoint> endpoints;
    Eventually(
        [&] {
          Workload w;
          if (!engine_->Inspect(name, &w).ok()) return false;
          endpoints = w.RunningEndpoints();
          return endpoints.size() == n;
        },
        seconds);
    return endpoints;
  }

  std::string dir_;
  std::string instance_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<DockerClient> docker_;
  std::unique_ptr<SwarmEngine> engine_;
};

TEST_F(SwarmEngineTest, PublishedImageRunsAsOneServiceWhoseInstancesAnswerOnEveryHost) {
  std::string app = "eng-" + UniqueSuffix();
  std::string ref = PublishHello(app);
  EXPECT_EQ(ref.rfind(registry_->Repository("bim/" + app) + ":v1@sha256:", 0), 0u) << ref;
  ImageInfo local;
  EXPECT_TRUE(docker_->InspectImage("bim/" + app + ":v1", &local).ok()) << "the local tag stays";
  EXPECT_TRUE(docker_->InspectImage(registry_->Repository("bim/" + app) + ":v1", &local).IsNotFound())
      << "the registry's name is not left on bimd's dockerd";

  Workload started;
  Status s = engine_->Start(Spec(app, ref, 3), &started);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(started.name, "bim-" + app + "-v1");
  std::vector<Endpoint> endpoints = WaitRunning(started.name, 3);
  ASSERT_EQ(endpoints.size(), 3u);
  std::set<std::string> hosts;
  for (const auto& e : endpoints) {
    hosts.insert(e.host);
    EXPECT_EQ(HttpStatusAt(e.host, e.port, "/healthz"), 200) << e.ToString();
  }
  EXPECT_EQ(hosts.size(), 3u) << "Swarm spreads the replicas over the hosts";

  // A second start of the same name (a crashed attempt's leftover) replaces it.
  ASSERT_TRUE(engine_->Start(Spec(app, ref, 1), &started).ok());
  EXPECT_EQ(WaitRunning(started.name, 1).size(), 1u);

  std::vector<Workload> listed;
  ASSERT_TRUE(engine_->List({{labels::kInstance, instance_}, {labels::kApp, app}}, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].labels[labels::kRelease], "v1");

  ASSERT_TRUE(engine_->Remove(started.name, 1).ok());
  ASSERT_TRUE(engine_->Remove(started.name, 1).ok()) << "removing what is gone is fine";
  EXPECT_TRUE(engine_->Inspect(started.name, &started).IsNotFound());

  WorkloadSpec bad = Spec(app, ref, 1);
  bad.restart_policy = "sometimes";
  EXPECT_EQ(engine_->Start(bad, &started).code(), Code::kInvalidArgument);
}

TEST_F(SwarmEngineTest, EventsFollowATaskThatDiesAndTheOneSwarmStartsInItsPlace) {
  std::string app = "evt-" + UniqueSuffix();
  Workload w;
  ASSERT_TRUE(engine_->Start(Spec(app, PublishHello(app), 2), &w).ok());
  ASSERT_EQ(WaitRunning(w.name, 2).size(), 2u);

  std::mutex mu;
  std::vector<InstanceEvent> events;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    engine_->WatchEvents(
        {{labels::kInstance, instance_}},
        [&](const InstanceEvent& e) {
          std::lock_guard<std::mutex> lock(mu);
          events.push_back(e);
        },
        [&] { return stop.load(); });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the watcher's first look

  // Kill one task's container behind Swarm's back, on the worker it runs on.
  ASSERT_TRUE(engine_->Inspect(w.name, &w).ok());
  const Instance victim = w.instances[0];
  std::string container;
  std::vector<TaskInfo> tasks;
  ASSERT_TRUE(engine_->swarm().ListTasks({{w.name}, "running", ""}, &tasks).ok());
  std::string socket;
  for (const auto& t : tasks) {
    if (t.id != victim.id) continue;
    container = t.container_id;
    for (const auto& h : ClusterBed().hosts())
      if (h.node_id == t.node_id) socket = h.socket;
  }
  ASSERT_FALSE(container.empty());
  ASSERT_TRUE(DockerClient(socket).RemoveContainer(container, true).ok());

  bool followed = Eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        bool died = false, started = false;
        for (const auto& e : events) {
          died = died || (e.kind == InstanceEvent::Kind::kDied && e.instance_id == victim.id);
          started = started || (e.kind == InstanceEvent::Kind::kStarted && e.instance_id != victim.id);
        }
        return died && started;
      },
      60);
  stop = true;
  watcher.join();
  EXPECT_TRUE(followed) << "expected the killed task to die and a replacement to start";
  for (const auto& e : events) {
    EXPECT_EQ(e.workload, w.name);
    EXPECT_EQ(e.labels.at(labels::kApp), app);
  }
  ASSERT_TRUE(engine_->Inspect(w.name, &w).ok());
  EXPECT_EQ(w.RunningEndpoints().size(), 2u);
  int restarts = 0;
  for (const auto& i : w.instances) restarts += i.restarts;
  EXPECT_EQ(restarts, 1) << "the replaced task counts as a restart of its slot";
}

TEST_F(SwarmEngineTest, ANodeThatDoesNotTrustTheRegistryCannotPullAndNodesSaysSo) {
  TestHost untrusting;
  std::string error;
  ASSERT_TRUE(ClusterBed().AddHost(/*trusts_registry=*/false, &untrusting, &error)) << error;
  struct RemoveAfter {
    std::string name;
    ~RemoveAfter() {
      std::string e;
      ClusterBed().RemoveHost(name, &e);
    }
  } remove_after{untrusting.name};

  std::string app = "pull-" + UniqueSuffix();
  WorkloadSpec spec = Spec(app, PublishHello(app), 1);
  spec.placement = {"node.id==" + untrusting.node_id};
  Workload w;
  ASSERT_TRUE(engine_->Start(spec, &w).ok());
  std::vector<EngineNode> nodes;
  bool warned = Eventually(
      [&] {
        if (!engine_->Nodes({{labels::kInstance, instance_}}, &nodes).ok()) return false;
        for (const auto& n : nodes)
          if (n.id == untrusting.node_id && !n.pull_error.empty()) return true;
        return false;
      },
      60);
  ASSERT_TRUE(warned);
  for (const auto& n : nodes) {
    if (n.id == untrusting.node_id) {
      EXPECT_TRUE(IsPullError(n.pull_error)) << n.pull_error;
    } else {
      EXPECT_TRUE(n.pull_error.empty()) << n.hostname << ": " << n.pull_error;
    }
  }
  ASSERT_TRUE(engine_->Inspect(w.name, &w).ok());
  ASSERT_EQ(w.instances.size(), 1u);
  EXPECT_FALSE(w.instances[0].running);
  EXPECT_TRUE(IsPullError(w.instances[0].error)) << w.instances[0].error;
}

}  // namespace
}  // namespace bim::testing
