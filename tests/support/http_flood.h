// Hostile HTTP clients for the `http` suite and bench/http_bench: many raw connections against one
// server on loopback, all driven by one poll() loop on one thread, each repeating one abuse
// (trickling headers, oversized or chunked bodies, ...) until stopped; plus a timed request for the
// admin's view and bimd's memory from /proc. Floods are bounded: a fixed number of connections, and
// they end when the Flood object is stopped or destroyed.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace bim::testing {

struct FloodSpec {
  int port = 0;                 // 127.0.0.1:port
  int connections = 100;        // kept open at once
  std::string head;             // request line and headers, as sent
  int trickle_ms = 0;           // > 0: the head goes out one byte every trickle_ms (slow headers)
  long long body_bytes = 0;     // after the head: this many filler bytes, as fast as the socket takes them
  bool chunked = false;         // frame the body as chunks ("4000\r\n...\r\n" ... "0\r\n\r\n")
  bool reconnect = true;        // a connection that ends is replaced at once
};

struct FloodReport {
  std::map<int, long> statuses;  // HTTP status of each answer; 0 = closed without one
  long connects = 0;
  long connect_failures = 0;
  long long body_bytes_sent = 0;
  long Answers(int status) const {
    auto it = statuses.find(status);
    return it == statuses.end() ? 0 : it->second;
  }
  std::string Describe() const;  // "connects=N statuses={413:N,0:N} body_sent=N"
};

class Flood {
 public:
  explicit Flood(FloodSpec spec);  // starts at once
  ~Flood();                        // Stop()
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  // Closes every connection and reports. Idempotent (later calls return the same report).
  FloodReport Stop();
  // Connections open right now (connected, not yet ended).
  int open() const { return open_; }
  // Waits until `n` connections are open at once (or `seconds` pass); true if reached.
  bool WaitOpen(int n, int seconds) const;

 private:
  void Run();

  const FloodSpec spec_;
  std::atomic<bool> stop_{false};
  std::atomic<int> open_{0};
  FloodReport report_;
  std::thread thread_;
  bool stopped_ = false;
};

struct TimedAnswer {
  long status = 0;   // 0 when the request failed (see error)
  double ms = 0;     // wall time of the whole request, on a new connection
  double connect_ms = 0;      // of which: until the TCP connection was up
  double first_byte_ms = 0;   // until the answer's first byte
  std::string body;
  std::string error;
};

// One request on a new connection to 127.0.0.1:port, with the bearer token ("" = none); 5 s timeout.
TimedAnswer TimedRequest(int port, const std::string& method, const std::string& path, const std::string& token,
                         const std::string& body = "");

// "GET|POST <path> HTTP/1.1" with Host, an optional bearer token and extra header lines; ends the
// head ("\r\n\r\n") unless `finish` is false.
std::string Head(const std::string& request_line, const std::string& token, const std::vector<std::string>& extra = {},
                 bool finish = true);

// The floods the `http` suite and bench/http_bench both run, on 127.0.0.1:port with `connections` at once:
//   RequestFlood:     `head` (a whole request, see Head) sent again and again;
//   SlowHeadersFlood: a GET whose head (with `header_bytes` of filler) goes out one byte every trickle_ms;
//   HugeBodyFlood:    `request_line` announcing and then sending a 1 GB body (Content-Length);
//   ChunkedBodyFlood: `request_line` with a chunked body without end, plus `extra` header lines.
FloodSpec RequestFlood(int port, int connections, const std::string& head);
FloodSpec SlowHeadersFlood(int port, int connections, int trickle_ms, size_t header_bytes);
FloodSpec HugeBodyFlood(int port, int connections, const std::string& request_line, const std::string& token);
FloodSpec ChunkedBodyFlood(int port, int connections, const std::string& request_line, const std::string& token,
                           const std::vector<std::string>& extra = {});

// A token made through POST /v1/tokens with `admin_token`: scoped to `app`, or admin-level when
// `app` is "". "" on failure, with the answer in *error.
std::string CreateApiToken(int port, const std::string& admin_token, const std::string& name, const std::string& app,
                           std::string* error);

// Resident memory of process `pid` now (VmRSS) and at its peak (VmHWM), in KiB; -1 if unreadable.
long RssKiB(int pid);
long PeakRssKiB(int pid);

}  // namespace bim::testing
