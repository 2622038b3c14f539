#include "http/work_queue.h"

namespace bim {

WorkQueue::WorkQueue(int threads, int max_queued) : max_queued_(static_cast<size_t>(max_queued < 0 ? 0 : max_queued)) {
  for (int i = 0; i < (threads < 1 ? 1 : threads); ++i) threads_.emplace_back([this] { Run(); });
}

WorkQueue::~WorkQueue() { Shutdown(); }

bool WorkQueue::Submit(std::function<void()> job, bool priority) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || urgent_.size() + normal_.size() >= max_queued_) return false;
    (priority ? urgent_ : normal_).push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void WorkQueue::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  std::lock_guard<std::mutex> l(mu_);
  threads_.clear();
}

size_t WorkQueue::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return urgent_.size() + normal_.size();
}

void WorkQueue::Run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !urgent_.empty() || !normal_.empty(); });
      std::deque<std::function<void()>>& lane = urgent_.empty() ? normal_ : urgent_;
      if (lane.empty()) return;  // stopping and drained
      job = std::move(lane.front());
      lane.pop_front();
    }
    job();
  }
}

}  // namespace bim
