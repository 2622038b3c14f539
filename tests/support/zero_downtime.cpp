#include "support/zero_downtime.h"

#include <algorithm>
#include <set>

namespace bim::testing {

namespace {

long long NowMicros() { return MonotonicMicros(); }

std::string Short(const std::string& body) {
  std::string s = body.substr(0, 40);
  for (char& c : s)
    if (c == '\n') c = '|';
  return "[" + s + "]";
}

// Marks each slow request that answered 200 and was in flight across a switch: a request that started
// while it ran (another slow one, or one of `loads`) got a different 2xx body.
void MarkCrossings(SlowReport* report, const std::vector<const LoadReport*>& loads) {
  report->crossed = 0;
  report->failed = 0;
  for (auto& r : report->requests) {
    r.crossed = false;
    if (r.status != 200) {
      ++report->failed;
      continue;
    }
    auto during = [&](long long start) { return start > r.start_us && start < r.end_us; };
    for (const auto& later : report->requests)
      r.crossed = r.crossed || (during(later.start_us) && later.status == 200 && later.body != r.body);
    for (const LoadReport* load : loads)
      for (const auto& answer : load->timeline)
        r.crossed = r.crossed || (during(answer.start_us) && load->bodies[answer.body] != r.body);
    if (r.crossed) ++report->crossed;
  }
}

}  // namespace

std::string SlowReport::Summary() const {
  std::string s = "slow: " + std::to_string(requests.size()) + " requests, " + std::to_string(crossed) +
                  " in flight across a switch, " + std::to_string(failed) + " failed";
  long long t0 = requests.empty() ? 0 : requests.front().start_us;
  int listed = 0;
  // Failures first (all of them), then a few of the requests that crossed a switch.
  for (bool failures : {true, false}) {
    for (const auto& r : requests) {
      if (failures ? r.status == 200 : !r.crossed) continue;
      if (!failures && ++listed > 4) break;
      s += "\n  +" + std::to_string((r.start_us - t0) / 1000) + "..+" + std::to_string((r.end_us - t0) / 1000) +
           " ms: " + (r.status ? std::to_string(r.status) + " " + Short(r.body) : r.error) +
           (r.crossed ? " (crossed a switch)" : "");
    }
  }
  return s;
}

SlowRequests::SlowRequests(HttpTarget target, SlowOptions options)
    : target_(std::move(target)), options_(std::move(options)) {
  if (options_.path.empty()) options_.path = "/slow?ms=" + std::to_string(options_.duration.count());
  target_.path = options_.path;
}

SlowRequests::~SlowRequests() {
  if (launcher_.joinable()) Stop();
}

void SlowRequests::Start() {
  stop_ = false;
  launcher_ = std::thread([this] { Launch(); });
}

void SlowRequests::Launch() {
  auto every = options_.duration / std::max(1, options_.in_flight);
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.emplace_back([this] {
        SlowRequest r;
        r.start_us = NowMicros();
        HttpAnswer a = HttpFetch(target_, options_.duration + std::chrono::seconds(10));
        r.end_us = NowMicros();
        r.status = a.status;
        r.body = a.body;
        r.error = a.error;
        std::lock_guard<std::mutex> lock(mu_);
        done_.push_back(std::move(r));
      });
    }
    next += every;
    while (!stop_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

SlowReport SlowRequests::Stop() {
  stop_ = true;
  if (launcher_.joinable()) launcher_.join();
  std::vector<std::thread> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running.swap(running_);
  }
  for (auto& t : running) t.join();
  SlowReport report;
  {
    std::lock_guard<std::mutex> lock(mu_);
    report.requests = std::move(done_);
    done_.clear();
  }
  std::sort(report.requests.begin(), report.requests.end(),
            [](const SlowRequest& a, const SlowRequest& b) { return a.start_us < b.start_us; });
  MarkCrossings(&report, {});
  return report;
}

std::string ProofReport::Summary() const {
  return fresh.Summary() + "\n" + keepalive.Summary() + "\n" + slow.Summary();
}

ZeroDowntimeProbe::ZeroDowntimeProbe(HttpTarget target, ProofOptions options)
    : options_(options),
      fresh_(target, {ConnectionMode::kNewPerRequest, options.connections_per_mode, options.rate_per_mode}),
      keepalive_(target, {ConnectionMode::kKeepAlive, options.connections_per_mode, options.rate_per_mode}),
      slow_(target, options.slow) {}

void ZeroDowntimeProbe::Start() {
  fresh_.Start();
  keepalive_.Start();
  slow_.Start();
}

ProofReport ZeroDowntimeProbe::Stop() {
  ProofReport report;
  report.latency_bound = options_.latency_bound;
  report.fresh = fresh_.Stop();
  report.keepalive = keepalive_.Stop();
  report.slow = slow_.Stop();
  MarkCrossings(&report.slow, {&report.fresh, &report.keepalive});
  return report;
}

::testing::AssertionResult NoDowntime(const ProofReport& report, const std::vector<std::string>& bodies,
                                      bool switched) {
  std::vector<std::string> problems;
  std::set<std::string> allowed(bodies.begin(), bodies.end());
  if (!switched && !bodies.empty()) allowed = {bodies[0]};
  auto bound_us = std::chrono::duration_cast<std::chrono::microseconds>(report.latency_bound).count();
  for (const LoadReport* load : {&report.fresh, &report.keepalive}) {
    if (load->requests < 10) problems.push_back(load->mode + ": only " + std::to_string(load->requests) + " requests");
    if (load->errors) problems.push_back(load->mode + ": " + std::to_string(load->errors) + " errors");
    if (load->non_2xx) problems.push_back(load->mode + ": " + std::to_string(load->non_2xx) + " non-2xx answers");
    if (load->max_latency.count() > bound_us)
      problems.push_back(load->mode + ": a request took " + std::to_string(load->max_latency.count() / 1000) +
                         " ms, over the " + std::to_string(report.latency_bound.count()) + " ms bound");
    for (const auto& [body, n] : load->by_body)
      if (!allowed.count(body)) problems.push_back(load->mode + ": unexpected body " + Short(body));
  }
  if (report.keepalive.reused == 0) problems.push_back("keep-alive: no request reused a connection");
  if (report.slow.requests.empty()) problems.push_back("slow: no slow request completed");
  if (report.slow.failed) problems.push_back("slow: " + std::to_string(report.slow.failed) + " did not answer 200");
  for (const auto& r : report.slow.requests)
    if (r.status == 200 && !allowed.count(r.body)) problems.push_back("slow: unexpected body " + Short(r.body));
  if (switched && report.slow.crossed == 0)
    problems.push_back("slow: no slow request was in flight across a switch (nothing proves the drain order)");
  if (!switched && report.slow.crossed)
    problems.push_back("slow: answers changed release although nothing should have switched");
  if (problems.empty()) return ::testing::AssertionSuccess();
  std::string text;
  for (const auto& p : problems) text += "\n  - " + p;
  return ::testing::AssertionFailure() << "zero-downtime proof failed:" << text << "\n" << report.Summary();
}

}  // namespace bim::testing
