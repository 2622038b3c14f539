// Helpers of the `http` suite: raw requests (exact bytes, so the tests send what an attacker would),
// tokens, and a probe that keeps timing an admin's requests and another app's traffic while a flood
// runs.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/bimd_harness.h"
#include "support/http_flood.h"

namespace bim::testing {

// What a raw exchange got back.
struct RawAnswer {
  std::string bytes;      // everything the server sent until it closed (or the timeout)
  double first_byte_ms = -1;
  bool closed = false;    // the server closed the connection
  int Status() const { return bytes.size() >= 12 && bytes.starts_with("HTTP/1.") ? std::atoi(bytes.substr(9, 3).c_str()) : 0; }
  std::string Body() const {
    size_t end = bytes.find("\r\n\r\n");
    return end == std::string::npos ? "" : bytes.substr(end + 4);
  }
};

// Connects to 127.0.0.1:port, sends `bytes` and reads until the server closes or `timeout_ms`
// passes. With `stop_after_status`, returns as soon as a whole status line and headers are in.
RawAnswer RawExchange(int port, const std::string& bytes, int timeout_ms, bool stop_after_status = false);

// A connection kept open: for streams (logs -f, slow uploads) that must stay in progress.
class OpenConnection {
 public:
  // Sends `head`; waits up to `timeout_ms` for the status line unless `wait_for_status` is false.
  OpenConnection(int port, const std::string& head, bool wait_for_status = true, int timeout_ms = 5000);
  ~OpenConnection();
  int status() const { return status_; }
  const std::string& answer() const { return answer_; }
  bool Send(const std::string& bytes);
  // Sends what the socket takes now, without waiting: the bytes taken (0 when its buffers are full),
  // or -1 when the connection was reset or closed.
  long SendNow(const std::string& bytes);
  // Reads until the answer's head is in or `timeout_ms` passes; sets answer() and status().
  void ReadAnswer(int timeout_ms);
  void Close();

 private:
  int fd_ = -1;
  int status_ = 0;
  std::string answer_;
};

// A scoped (app) or admin-level ("" app) token made through the API.
std::string CreateToken(const Bimd& server, const std::string& name, const std::string& app);

// Times an admin request (GET /v1/apps, new connection each time) and a request to `app` through
// nginx every `period_ms` on a thread of its own, until Stop().
class ServiceProbe {
 public:
  ServiceProbe(const Bimd& server, std::string app, int period_ms = 200);
  ~ServiceProbe() { Stop(); }
  void Stop();

  int admin_requests = 0;
  int admin_failures = 0;     // any answer but 200 (or no answer)
  double admin_max_ms = 0;
  std::string admin_worst;    // what the slowest/failed request got
  int app_requests = 0;
  int app_failures = 0;

 private:
  const Bimd& server_;
  const std::string app_;
  const int period_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace bim::testing
