// SwarmEngine's view of Swarm's tasks and nodes (WorkloadsFromTasks), without a swarm.
#include <gtest/gtest.h>

#include "swarm/swarm_engine.h"

namespace bim {
namespace {

NodeInfo Node(const std::string& id, const std::string& address, const std::string& state = "ready",
              const std::string& availability = "active") {
  NodeInfo n;
  n.id = id;
  n.hostname = "host-" + id;
  n.address = address;
  n.state = state;
  n.availability = availability;
  return n;
}

TaskInfo Task(const std::string& id, int slot, const std::string& node, const std::string& state,
              const std::string& desired, int port, const std::string& created) {
  TaskInfo t;
  t.id = id;
  t.service_id = "svc";
  t.slot = slot;
  t.node_id = node;
  t.state = state;
  t.desired_state = desired;
  t.published_port = port;
  t.created_at = created;
  t.timestamp = created;
  return t;
}

ServiceInfo Service(int replicas) {
  ServiceInfo s;
  s.id = "svc";
  s.name = "bim-shop-v7";
  s.replicas = replicas;
  s.target_port = 8080;
  s.labels = {{"im.backend.bim.app", "shop"}};
  return s;
}

TEST(SwarmViewTest, OneInstancePerSlotWithItsNodesAddressAndHostModePort) {
  std::vector<NodeInfo> nodes = {Node("a", "10.0.0.1"), Node("b", "10.0.0.2")};
  std::vector<TaskInfo> tasks = {Task("t1", 1, "a", "running", "running", 30001, "2024-01-01T00:00:01Z"),
                                 Task("t2", 2, "b", "running", "running", 30002, "2024-01-01T00:00:01Z")};
  auto w = WorkloadsFromTasks({Service(2)}, tasks, nodes);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].name, "bim-shop-v7");
  EXPECT_EQ(w[0].labels.at("im.backend.bim.app"), "shop");
  ASSERT_EQ(w[0].instances.size(), 2u);
  EXPECT_EQ(w[0].instances[0].endpoint.ToString(), "10.0.0.1:30001");
  EXPECT_EQ(w[0].instances[0].node, "host-a");
  EXPECT_TRUE(w[0].instances[0].running);
  EXPECT_EQ(w[0].instances[0].restarts, 0);
  EXPECT_EQ(w[0].RunningEndpoints().size(), 2u);
}

TEST(SwarmViewTest, ATaskOnANodeSwarmReportsDownIsNotRunningAndItsReplacementCounts) {
  std::vector<NodeInfo> nodes = {Node("a", "10.0.0.1"), Node("b", "10.0.0.2", "down")};
  std::vector<TaskInfo> tasks = {
      // Slot 2 ran on b; b went down; Swarm started a replacement on a. The old task still says
      // "running" (nobody on b could report otherwise) but Swarm wants it shut down.
      Task("old", 2, "b", "running", "shutdown", 30002, "2024-01-01T00:00:01.5Z"),
      Task("new", 2, "a", "running", "running", 30003, "2024-01-01T00:00:09.25Z"),
      Task("t1", 1, "a", "running", "running", 30001, "2024-01-01T00:00:01Z")};
  tasks[0].exit_code = 0;
  auto w = WorkloadsFromTasks({Service(2)}, tasks, nodes);
  ASSERT_EQ(w[0].instances.size(), 2u);
  const Instance& moved = w[0].instances[1];
  EXPECT_EQ(moved.id, "new");
  EXPECT_EQ(moved.endpoint.ToString(), "10.0.0.1:30003");
  EXPECT_TRUE(moved.running);
  EXPECT_EQ(moved.restarts, 0) << "moving off a failed host is not a restart";
  EXPECT_FALSE(moved.failed);
  auto endpoints = w[0].RunningEndpoints();
  EXPECT_EQ(endpoints.size(), 2u);
  for (const auto& e : endpoints) EXPECT_EQ(e.host, "10.0.0.1") << "nothing routes to the down node";

  // Before the replacement exists, the slot's task is on the down node: not running, and says why.
  tasks.erase(tasks.begin() + 1);
  w = WorkloadsFromTasks({Service(2)}, tasks, nodes);
  EXPECT_FALSE(w[0].instances[1].running);
  EXPECT_EQ(w[0].instances[1].state, "node down");
  EXPECT_EQ(w[0].RunningEndpoints().size(), 1u);
}

TEST(SwarmViewTest, DrainedNodesPendingTasksAndRepeatedFailuresAreReportedNotRouted) {
  std::vector<NodeInfo> nodes = {Node("a", "10.0.0.1", "ready", "drain")};
  std::vector<TaskInfo> tasks = {Task("t1", 1, "a", "running", "running", 30001, "2024-01-01T00:00:01Z")};
  auto w = WorkloadsFromTasks({Service(1)}, tasks, nodes);
  EXPECT_FALSE(w[0].instances[0].running);
  EXPECT_EQ(w[0].instances[0].state, "node ready (drain)");

  TaskInfo pending = Task("p", 1, "", "pending", "running", 0, "2024-01-01T00:00:01Z");
  pending.error = "no suitable node (scheduling constraints not satisfied on 3 nodes)";
  w = WorkloadsFromTasks({Service(1)}, {pending}, nodes);
  EXPECT_FALSE(w[0].instances[0].running);
  EXPECT_EQ(w[0].instances[0].error, pending.error);

  // Exited twice (exit 3), a third attempt is starting: restarts 2, the last exit kept.
  TaskInfo f1 = Task("f1", 1, "b", "failed", "shutdown", 0, "2024-01-01T00:00:01Z");
  TaskInfo f2 = Task("f2", 1, "b", "failed", "shutdown", 0, "2024-01-01T00:00:03Z");
  f1.exit_code = 3;
  f2.exit_code = 3;
  f2.error = "task: non-zero exit (3)";
  TaskInfo f3 = Task("f3", 1, "b", "starting", "running", 0, "2024-01-01T00:00:05Z");
  w = WorkloadsFromTasks({Service(1)}, {f3, f2, f1}, {Node("b", "10.0.0.2")});
  EXPECT_EQ(w[0].instances[0].id, "f3");
  EXPECT_EQ(w[0].instances[0].restarts, 2);
  EXPECT_EQ(w[0].instances[0].exit_code, 3);
  EXPECT_EQ(w[0].instances[0].error, "task: non-zero exit (3)");
  EXPECT_FALSE(w[0].instances[0].running);
  EXPECT_TRUE(w[0].instances[0].failed);

  // Not placed yet is not failed; rejected (could not get the image) is.
  w = WorkloadsFromTasks({Service(1)}, {pending}, nodes);
  EXPECT_FALSE(w[0].instances[0].failed);
  TaskInfo rejected = Task("r", 1, "b", "rejected", "shutdown", 0, "2024-01-01T00:00:01Z");
  rejected.error = "No such image: 10.0.0.1:5000/bim/shop:v7@sha256:abc";
  w = WorkloadsFromTasks({Service(1)}, {rejected}, {Node("b", "10.0.0.2")});
  EXPECT_TRUE(w[0].instances[0].failed);
  EXPECT_EQ(w[0].instances[0].exit_code, 0);
}

TEST(SwarmViewTest, AServiceWithAHealthcheckIsHealthyOnlyWhileItsTaskRuns) {
  ServiceInfo checked = Service(1);
  checked.healthcheck = true;
  std::vector<NodeInfo> nodes = {Node("a", "10.0.0.1")};
  auto health = [&](const TaskInfo& t, const ServiceInfo& s) { return WorkloadsFromTasks({s}, {t}, nodes)[0].instances[0].health; };
  TaskInfo starting = Task("s", 1, "a", "starting", "running", 0, "2024-01-01T00:00:01Z");
  EXPECT_EQ(health(starting, checked), "starting") << "Swarm holds it in starting until it is healthy";
  TaskInfo running = Task("r", 1, "a", "running", "running", 30001, "2024-01-01T00:00:02Z");
  EXPECT_EQ(health(running, checked), "healthy");
  TaskInfo unhealthy = Task("u", 1, "a", "failed", "shutdown", 0, "2024-01-01T00:00:03Z");
  unhealthy.error = "task: non-zero exit (137): dockerexec: unhealthy container";
  EXPECT_EQ(health(unhealthy, checked), "unhealthy");
  EXPECT_EQ(health(running, Service(1)), "") << "no healthcheck, no verdict";
  // A worker (no port) runs without an endpoint; a web service is not running until its port is known.
  ServiceInfo worker = checked;
  worker.target_port = 0;
  TaskInfo no_port = Task("w", 1, "a", "running", "running", 0, "2024-01-01T00:00:04Z");
  EXPECT_TRUE(WorkloadsFromTasks({worker}, {no_port}, nodes)[0].instances[0].running);
  EXPECT_FALSE(WorkloadsFromTasks({checked}, {no_port}, nodes)[0].instances[0].running);
}

TEST(SwarmViewTest, PullFailuresAreRecognised) {
  EXPECT_TRUE(IsPullError("No such image: 10.0.0.1:5000/bim/shop:v7@sha256:abc"));
  EXPECT_TRUE(IsPullError("Error response from daemon: Get \"https://10.0.0.1:5000/v2/\": http: server gave HTTP "
                          "response to HTTPS client"));
  EXPECT_FALSE(IsPullError("task: non-zero exit (3)"));
  EXPECT_FALSE(IsPullError(""));
}

}  // namespace
}  // namespace bim
