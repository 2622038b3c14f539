#include "support/load_generator.h"

#include <algorithm>
#include <cstdio>

namespace bim::testing {

namespace {
std::string Millis(std::chrono::microseconds us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us.count()) / 1000.0);
  return buf;
}
}  // namespace

const char* ModeName(ConnectionMode mode) {
  return mode == ConnectionMode::kKeepAlive ? "keep-alive" : "new-connection";
}

std::string LoadReport::Summary() const {
  std::string s = mode + ": " + std::to_string(requests) + " requests (" + std::to_string(reused) +
                  " on reused connections), " + std::to_string(ok_2xx) + " 2xx, " + std::to_string(non_2xx) +
                  " non-2xx, " + std::to_string(errors) + " errors; latency max " + Millis(max_latency) + ", p99 " +
                  Millis(p99_latency) + ", p50 " + Millis(p50_latency) + "; statuses:";
  for (const auto& [code, n] : by_status) s += " " + std::to_string(code) + "x" + std::to_string(n);
  s += "; bodies:";
  for (const auto& [body, n] : by_body) s += " [" + body.substr(0, 40) + "]x" + std::to_string(n);
  for (const auto& p : first_problems) s += "\n  " + p;
  return s;
}

LoadGenerator::LoadGenerator(HttpTarget target, LoadOptions options)
    : target_(std::move(target)), options_(options) {
  report_.mode = ModeName(options_.mode);
}

LoadGenerator::~LoadGenerator() {
  if (!workers_.empty()) Stop();
}

void LoadGenerator::Start() {
  stop_ = false;
  for (int i = 0; i < options_.connections; ++i) workers_.emplace_back([this, i] { Run(i); });
}

LoadReport LoadGenerator::Stop() {
  stop_ = true;
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  if (!latencies_us_.empty()) {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto at = [&](double q) {
      size_t i = static_cast<size_t>(q * static_cast<double>(latencies_us_.size() - 1));
      return std::chrono::microseconds(latencies_us_[i]);
    };
    report_.max_latency = std::chrono::microseconds(latencies_us_.back());
    report_.p50_latency = at(0.50);
    report_.p99_latency = at(0.99);
  }
  return report_;
}

std::string LoadGenerator::LastBody() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_body_;
}

void LoadGenerator::Run(int) {
  const bool keep_alive = options_.mode == ConnectionMode::kKeepAlive;
  HttpConnection connection(target_);
  auto interval = std::chrono::microseconds(1000000LL * options_.connections /
                                            std::max(1, options_.rate_per_second));
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    long long start = MonotonicMicros();
    HttpAnswer a = connection.Get(keep_alive, options_.timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      report_.requests++;
      if (a.reused) report_.reused++;
      latencies_us_.push_back(a.latency.count());
      if (!a.ok()) {
        report_.errors++;
        if (report_.first_problems.size() < 10) report_.first_problems.push_back(a.error);
      } else {
        report_.by_status[a.status]++;
        if (a.status >= 200 && a.status < 300) {
          report_.ok_2xx++;
          report_.by_body[a.body]++;
          auto known = std::find(report_.bodies.begin(), report_.bodies.end(), a.body);
          if (known == report_.bodies.end()) known = report_.bodies.insert(known, a.body);
          report_.timeline.push_back({start, static_cast<int>(known - report_.bodies.begin())});
          last_body_ = a.body;
        } else {
          report_.non_2xx++;
          if (report_.first_problems.size() < 10)
            report_.first_problems.push_back("HTTP " + std::to_string(a.status) + ": " + a.body.substr(0, 80));
        }
      }
    }
    // Keep the rate; after a slow answer, don't burst to catch up.
    next += interval;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    std::this_thread::sleep_until(next);
  }
}

}  // namespace bim::testing
