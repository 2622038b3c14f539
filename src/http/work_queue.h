// WorkQueue: a fixed pool of threads running short jobs from a bounded queue with a priority lane.
// The HTTP server runs short requests on it, so a flood can only fill the queue (and be refused),
// never spawn threads, and a privileged client's job runs before every queued ordinary one.
//
// Thread-safety: every method may be called from any thread. Jobs run on the pool's threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bim {

class WorkQueue {
 public:
  WorkQueue(int threads, int max_queued);
  ~WorkQueue();  // Shutdown()

  // Queues `job`; priority jobs run before every ordinary one still waiting. False (and `job` is
  // dropped) when max_queued jobs are already waiting or after Shutdown().
  bool Submit(std::function<void()> job, bool priority);
  // Stops taking jobs, runs the ones already queued, and joins the threads. Idempotent.
  void Shutdown();
  // Jobs waiting (not yet running).
  size_t queued() const;

 private:
  void Run();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> urgent_;
  std::deque<std::function<void()>> normal_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace bim
