// What every zero-downtime test runs around a switch (deploy, rollback, env change, restart, watch
// rollback), and the one assertion it makes:
//
//   ZeroDowntimeProbe probe(server.Target(app));
//   probe.Start();
//   ... bim deploy / rollback / env set / restart bimd ...
//   ProofReport report = probe.Stop();
//   EXPECT_TRUE(NoDowntime(report, {"Hello from bim! blue\n", "Hello from bim! green\n"}, true));
//
// A probe runs three things at once against one target:
//   - load with a new connection per request,
//   - keep-alive load that never re-sends a request (a dead reused connection is an error),
//   - slow requests (GET /slow?ms=2000 on hello-server) kept in flight all the time: a new one every
//     duration/in_flight, each on its own connection, so whenever the switch happens about `in_flight`
//     requests started on the old release just before it and finish after it. Each must complete with
//     200 and the old release's body: that proves the old release is retired only after its requests
//     are done (the drain order).
//
// Thread-safety: Start/Stop/LastBody from one controlling thread.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/load_generator.h"

namespace bim::testing {

struct SlowOptions {
  std::chrono::milliseconds duration{2000};  // how long each request takes on the server
  int in_flight = 4;                         // started every duration/in_flight
  std::string path;                          // "" = "/slow?ms=<duration>" (hello-server's slow endpoint)
};

struct SlowRequest {
  long long start_us = 0, end_us = 0;  // monotonic
  int status = 0;                      // 0: no complete answer (see error)
  std::string body, error;
  bool crossed = false;  // in flight across a switch: a request started after it, before it ended, got another body
};

struct SlowReport {
  std::vector<SlowRequest> requests;  // in start order
  int crossed = 0;
  int failed = 0;  // status != 200
  std::string Summary() const;
};

// Keeps slow requests in flight against `target` (its path is replaced by options.path).
class SlowRequests {
 public:
  SlowRequests(HttpTarget target, SlowOptions options = {});
  ~SlowRequests();  // stops if still running
  void Start();
  // Stops starting new requests, waits for those in flight (each bounded by duration + 10 s) and
  // reports them all.
  SlowReport Stop();

 private:
  void Launch();
  HttpTarget target_;
  SlowOptions options_;
  std::atomic<bool> stop_{false};
  std::thread launcher_;
  std::mutex mu_;
  std::vector<std::thread> running_;
  std::vector<SlowRequest> done_;
};

struct ProofOptions {
  int rate_per_mode = 100;                     // requests per second in each load mode
  int connections_per_mode = 2;
  std::chrono::milliseconds latency_bound{2000};  // no fast request may take longer
  SlowOptions slow;
};

struct ProofReport {
  LoadReport fresh;      // new connection per request
  LoadReport keepalive;  // reused connections, no re-sends
  SlowReport slow;
  std::chrono::milliseconds latency_bound{0};
  std::string Summary() const;
};

class ZeroDowntimeProbe {
 public:
  // `target` names the app (Host header) and where to send; its path is what the load GETs ("/").
  explicit ZeroDowntimeProbe(HttpTarget target, ProofOptions options = {});
  void Start();
  ProofReport Stop();
  // The body of the most recent 2xx answer of the new-connection load (which release serves now).
  std::string LastBody() { return fresh_.LastBody(); }

 private:
  ProofOptions options_;
  LoadGenerator fresh_, keepalive_;
  SlowRequests slow_;
};

// Passes when nothing failed: in both load modes zero errors, zero non-2xx answers, no request over the
// latency bound, and requests really were sent (keep-alive ones on reused connections); every slow
// request answered 200; every body (fast and slow) is one of `bodies`. If `switched`, at least one slow
// request was in flight across a switch and completed with the old release's body; otherwise only
// bodies[0] may have answered.
::testing::AssertionResult NoDowntime(const ProofReport& report, const std::vector<std::string>& bodies,
                                      bool switched);

}  // namespace bim::testing
