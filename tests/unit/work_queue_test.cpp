// WorkQueue: the HTTP layer's bounded worker pool with a priority lane.
#include "http/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace bim {
namespace {

TEST(WorkQueueTest, RefusesBeyondTheQueueBound) {
  WorkQueue queue(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  std::promise<void> started;
  ASSERT_TRUE(queue.Submit([&] { started.set_value(); gate.wait(); ++ran; }, false));
  started.get_future().wait();  // the one thread is busy
  EXPECT_TRUE(queue.Submit([&] { ++ran; }, false));
  EXPECT_TRUE(queue.Submit([&] { ++ran; }, false));
  EXPECT_EQ(queue.queued(), 2u);
  EXPECT_FALSE(queue.Submit([&] { ++ran; }, false)) << "a third waiting job must be refused";
  EXPECT_FALSE(queue.Submit([&] { ++ran; }, true)) << "the bound holds for priority jobs too";
  release.set_value();
  queue.Shutdown();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(queue.Submit([] {}, false)) << "no jobs after Shutdown";
}

TEST(WorkQueueTest, PriorityJobsRunFirst) {
  WorkQueue queue(1, 10);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  std::string order;
  std::mutex mu;
  auto note = [&](char c) {
    std::lock_guard<std::mutex> l(mu);
    order += c;
  };
  ASSERT_TRUE(queue.Submit([&] { started.set_value(); gate.wait(); }, false));
  started.get_future().wait();
  queue.Submit([&] { note('a'); }, false);
  queue.Submit([&] { note('b'); }, false);
  queue.Submit([&] { note('P'); }, true);
  queue.Submit([&] { note('Q'); }, true);
  release.set_value();
  queue.Shutdown();
  EXPECT_EQ(order, "PQab");
}

}  // namespace
}  // namespace bim
