// LoadGenerator: steady HTTP load through nginx for zero-downtime tests. A few threads, each with one
// keep-alive libcurl handle, GET one URL at a bounded total rate until Stop(), counting every answer
// by status and body, and every connection error. Loopback only; bounded in rate and (by the caller)
// in time.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bim::testing {

struct LoadReport {
  long long requests = 0;
  long long ok_2xx = 0;
  long long non_2xx = 0;
  long long errors = 0;                          // connection failures, timeouts
  std::map<long, long long> by_status;
  std::map<std::string, long long> by_body;      // distinct bodies seen (versions)
  std::vector<std::string> first_problems;       // up to 10 descriptions of failures
  std::string Summary() const;
};

class LoadGenerator {
 public:
  // GETs http://127.0.0.1:<port><path> with Host: <host> at about `rate_per_second` in total.
  LoadGenerator(int port, std::string host, std::string path = "/", int threads = 4, int rate_per_second = 300);
  ~LoadGenerator();  // stops if still running
  void Start();
  LoadReport Stop();
  // The body of the most recent 2xx answer.
  std::string LastBody();

 private:
  void Run(int index);
  int port_;
  std::string host_, path_;
  int threads_, rate_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  std::mutex mu_;
  LoadReport report_;
  std::string last_body_;
};

}  // namespace bim::testing
