// LoadGenerator: steady HTTP load for zero-downtime proofs, strict enough that a hidden failure fails.
//
// Two connection modes, and every zero-downtime test runs both (see zero_downtime.h):
//   kNewPerRequest  each request on its own new connection ("Connection: close"): catches refused
//                   connects and listeners that go away.
//   kKeepAlive      requests reuse a connection; a request sent on a reused connection that dies
//                   (reset, EOF) is an error, never re-sent (libcurl would silently re-send it, which
//                   hides exactly these failures; this uses support/http_client.h instead). An idle
//                   connection the server closed before the request went out is replaced first:
//                   that is not a retry, no request was sent on it.
// Every request's latency is recorded (connect included); the report gives max, p50 and p99, and
// counts errors, non-2xx answers and each distinct body (the release that answered).
//
// Bounded: `connections` workers, each one request at a time, at `rate_per_second` in total, until
// Stop() (the caller bounds the time). Targets any numeric address (HttpTarget), with a Host header.
//
// Thread-safety: Start/Stop/LastBody from one controlling thread; the workers are internal.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"

namespace bim::testing {

enum class ConnectionMode { kNewPerRequest, kKeepAlive };
const char* ModeName(ConnectionMode mode);  // "new-connection", "keep-alive"

struct LoadOptions {
  ConnectionMode mode = ConnectionMode::kNewPerRequest;
  int connections = 2;                         // concurrent workers
  int rate_per_second = 150;                   // in total, across the workers
  std::chrono::milliseconds timeout{5000};     // per request; longer is an error
};

struct LoadReport {
  std::string mode;
  long long requests = 0;
  long long ok_2xx = 0;
  long long non_2xx = 0;
  long long errors = 0;                          // no complete answer: refused, reset, EOF, timeout
  long long reused = 0;                          // requests sent on a reused connection
  std::map<int, long long> by_status;
  std::map<std::string, long long> by_body;      // distinct 2xx bodies (which release answered)
  std::vector<std::string> first_problems;       // up to 10 descriptions of failures
  // Every 2xx answer: when its request started (MonotonicMicros) and which body it got (an index
  // into `bodies`), so a proof can tell when the answering release changed.
  struct Answer {
    long long start_us;
    int body;
  };
  std::vector<Answer> timeline;
  std::vector<std::string> bodies;
  std::chrono::microseconds max_latency{0}, p50_latency{0}, p99_latency{0};
  std::string Summary() const;
};

class LoadGenerator {
 public:
  LoadGenerator(HttpTarget target, LoadOptions options = {});
  ~LoadGenerator();  // stops if still running
  void Start();
  // Stops the workers (each finishes its current request) and reports every request since Start.
  LoadReport Stop();
  // The body of the most recent 2xx answer.
  std::string LastBody();

 private:
  void Run(int index);
  HttpTarget target_;
  LoadOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  std::mutex mu_;
  LoadReport report_;
  std::vector<int64_t> latencies_us_;
  std::string last_body_;
};

}  // namespace bim::testing
