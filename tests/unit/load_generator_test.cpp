// The proofs' own instruments must be able to fail: the strict HTTP client, the load generator and the
// NoDowntime check, driven against small misbehaving servers on loopback (in this process).
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "support/load_generator.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

// A loopback server that runs `handle(connection fd, index of the connection)` for each connection it
// accepts, one thread per connection, until destroyed.
class TinyServer {
 public:
  explicit TinyServer(std::function<void(int fd, int index)> handle) : handle_(std::move(handle)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listener_, 64);
    acceptor_ = std::thread([this] {
      for (int index = 0;; ++index) {
        int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0 || stop_) {
          if (fd >= 0) ::close(fd);
          return;
        }
        threads_.emplace_back([this, fd, index] { handle_(fd, index); });
      }
    });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    for (auto& t : threads_) t.join();
  }
  HttpTarget Target() const {
    HttpTarget target;
    target.port = port_;
    target.host = "tiny.localhost";
    return target;
  }

 private:
  std::function<void(int, int)> handle_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> threads_;
};

// Reads one request head; false when the peer closed first.
bool ReadRequest(int fd) {
  std::string buf;
  char c[1024];
  while (buf.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, c, sizeof c, 0);
    if (n <= 0) return false;
    buf.append(c, static_cast<size_t>(n));
  }
  return true;
}

void Send(int fd, const std::string& s) { ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

TEST(HttpClientTest, ReadsContentLengthChunkedAndCloseDelimitedBodies) {
  TinyServer server([](int fd, int index) {
    if (ReadRequest(fd)) {
      if (index == 0) Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
      if (index == 1) Send(fd, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
      if (index == 2) Send(fd, "HTTP/1.0 503 Nope\r\n\r\nall of it");
    }
    ::close(fd);
  });
  HttpAnswer a = HttpFetch(server.Target());
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.body, "hello");
  a = HttpFetch(server.Target());
  EXPECT_EQ(a.status, 201) << a.error;
  EXPECT_EQ(a.body, "abcde");
  a = HttpFetch(server.Target());
  EXPECT_EQ(a.status, 503) << a.error;
  EXPECT_EQ(a.body, "all of it");
  EXPECT_GT(a.latency.count(), 0);
}

// The failure libcurl hides: the server takes the request on a reused connection, then drops it.
TEST(HttpClientTest, ADeadReusedConnectionIsAnErrorNeverResent) {
  std::atomic<int> requests{0};
  TinyServer server([&](int fd, int) {
    if (ReadRequest(fd)) {
      ++requests;
      Send(fd, kOk);
    }
    if (ReadRequest(fd)) ++requests;  // the second request is read, then the connection dies
    ::close(fd);
  });
  HttpConnection c(server.Target());
  HttpAnswer first = c.Get(true, std::chrono::milliseconds(2000));
  ASSERT_EQ(first.status, 200) << first.error;
  EXPECT_FALSE(first.reused);
  HttpAnswer second = c.Get(true, std::chrono::milliseconds(2000));
  EXPECT_EQ(second.status, 0);
  EXPECT_TRUE(second.reused);
  EXPECT_NE(second.error.find("on a reused connection"), std::string::npos) << second.error;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(requests, 2) << "the failed request was sent once, not re-sent";
}

// Not a retry: the server closed the idle connection before anything was sent on it.
TEST(HttpClientTest, AnIdleConnectionTheServerClosedIsReplacedBeforeSending) {
  TinyServer server([](int fd, int) {
    if (ReadRequest(fd)) Send(fd, kOk);
    ::close(fd);  // closes after one answer without saying "Connection: close"
  });
  HttpConnection c(server.Target());
  ASSERT_EQ(c.Get(true, std::chrono::milliseconds(2000)).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the FIN arrives while idle
  HttpAnswer again = c.Get(true, std::chrono::milliseconds(2000));
  EXPECT_EQ(again.status, 200) << again.error;
  EXPECT_FALSE(again.reused);
}

TEST(HttpClientTest, AnAnswerSlowerThanTheTimeoutIsAnError) {
  TinyServer server([](int fd, int) {
    if (ReadRequest(fd)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      Send(fd, kOk);
    }
    ::close(fd);
  });
  HttpAnswer a = HttpFetch(server.Target(), std::chrono::milliseconds(200));
  EXPECT_EQ(a.status, 0);
  EXPECT_NE(a.error.find("timeout"), std::string::npos) << a.error;
  EXPECT_LT(a.latency, std::chrono::milliseconds(550));
}

TEST(LoadGeneratorTest, KeepAliveCountsDroppedConnectionsAndRecordsLatency) {
  // Every third connection is dropped after its second request is read.
  TinyServer server([](int fd, int index) {
    for (int n = 0; ReadRequest(fd); ++n) {
      if (index % 3 == 0 && n == 1) break;
      Send(fd, kOk);
    }
    ::close(fd);
  });
  LoadGenerator load(server.Target(), {ConnectionMode::kKeepAlive, 2, 200});
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  LoadReport r = load.Stop();
  EXPECT_GT(r.requests, 20) << r.Summary();
  EXPECT_GT(r.reused, 0) << r.Summary();
  EXPECT_GT(r.errors, 0) << "dropped reused connections are errors: " << r.Summary();
  EXPECT_EQ(r.requests, r.ok_2xx + r.errors) << r.Summary();
  EXPECT_EQ(r.timeline.size(), static_cast<size_t>(r.ok_2xx));
  EXPECT_GT(r.max_latency.count(), 0);
  EXPECT_LE(r.p99_latency, r.max_latency);
  EXPECT_LE(r.p50_latency, r.p99_latency);
}

TEST(LoadGeneratorTest, NewConnectionModeOpensOneConnectionPerRequest) {
  std::atomic<int> connections{0}, requests{0};
  TinyServer server([&](int fd, int) {
    ++connections;
    while (ReadRequest(fd)) {
      ++requests;
      Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    }
    ::close(fd);
  });
  LoadGenerator load(server.Target(), {ConnectionMode::kNewPerRequest, 2, 200});
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  LoadReport r = load.Stop();
  EXPECT_EQ(r.errors, 0) << r.Summary();
  EXPECT_EQ(r.reused, 0);
  EXPECT_GT(r.requests, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(connections.load(), requests.load()) << "one connection per request";
}

// A two-release server: requests that arrive before `switch_at` are answered by "old", later ones by
// "new"; /slow takes 300 ms. With `retire_early`, a slow request of the old release still running at the
// switch is cut off, as if the old release were stopped before its requests drained.
void TwoReleases(int fd, long long switch_at, bool retire_early) {
  std::string buf;
  char c[1024];
  for (;;) {
    while (buf.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, c, sizeof c, 0);
      if (n <= 0) return (void)::close(fd);
      buf.append(c, static_cast<size_t>(n));
    }
    bool slow = buf.rfind("GET /slow", 0) == 0;
    buf.erase(0, buf.find("\r\n\r\n") + 4);
    bool old = MonotonicMicros() < switch_at;
    if (slow) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (old && retire_early && MonotonicMicros() >= switch_at) return (void)::close(fd);
    }
    std::string body = old ? "old" : "new";
    Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + body);
  }
}

ProofReport ProbeAcrossASwitch(bool retire_early) {
  long long switch_at = MonotonicMicros() + 700000;
  TinyServer server([&](int fd, int) { TwoReleases(fd, switch_at, retire_early); });
  ProofOptions options;
  options.slow.duration = std::chrono::milliseconds(300);
  options.slow.in_flight = 3;
  ZeroDowntimeProbe probe(server.Target(), options);
  probe.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1400));
  return probe.Stop();
}

TEST(ZeroDowntimeProbeTest, SeesSlowRequestsCrossTheSwitch) {
  ProofReport report = ProbeAcrossASwitch(false);
  EXPECT_TRUE(NoDowntime(report, {"old", "new"}, true));
  EXPECT_GT(report.slow.crossed, 0) << report.Summary();
  for (const auto& r : report.slow.requests) {
    if (r.crossed) {
      EXPECT_EQ(r.body, "old") << "a request in flight across the switch ends on the old release";
    }
  }
}

TEST(ZeroDowntimeProbeTest, FailsWhenTheOldReleaseIsStoppedBeforeItsRequestsDrain) {
  ProofReport report = ProbeAcrossASwitch(true);
  EXPECT_GT(report.slow.failed, 0) << report.Summary();
  EXPECT_FALSE(NoDowntime(report, {"old", "new"}, true));
}

// NoDowntime itself: each kind of hidden failure makes it fail.
ProofReport GoodReport() {
  ProofReport p;
  p.latency_bound = std::chrono::milliseconds(2000);
  for (LoadReport* l : {&p.fresh, &p.keepalive}) {
    l->mode = l == &p.fresh ? "new-connection" : "keep-alive";
    l->requests = l->ok_2xx = 100;
    l->by_body = {{"old", 50}, {"new", 50}};
    l->bodies = {"old", "new"};
    l->timeline = {{1000, 0}, {5000, 1}};
    l->max_latency = std::chrono::milliseconds(30);
  }
  p.keepalive.reused = 90;
  SlowRequest crossing{0, 3000000, 200, "old", "", true};
  p.slow.requests = {crossing};
  p.slow.crossed = 1;
  return p;
}

TEST(NoDowntimeTest, FailsOnEveryKindOfHiddenFailure) {
  EXPECT_TRUE(NoDowntime(GoodReport(), {"old", "new"}, true));
  ProofReport p = GoodReport();
  p.keepalive.errors = 1;
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true));
  p = GoodReport();
  p.fresh.non_2xx = 1;
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true));
  p = GoodReport();
  p.fresh.max_latency = std::chrono::milliseconds(2500);
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true)) << "over the latency bound";
  p = GoodReport();
  p.keepalive.reused = 0;
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true)) << "keep-alive that never reused proves nothing";
  p = GoodReport();
  p.slow.requests[0].status = 502;
  p.slow.failed = 1;
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true)) << "an in-flight request cut off by the retire";
  p = GoodReport();
  p.slow.crossed = 0;
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true)) << "no request in flight across the switch";
  p = GoodReport();
  EXPECT_FALSE(NoDowntime(p, {"old", "other"}, true)) << "an unexpected body";
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, false)) << "something switched that should not have";
  p = GoodReport();
  p.slow.requests.clear();
  EXPECT_FALSE(NoDowntime(p, {"old", "new"}, true)) << "no slow request at all";
}

}  // namespace
}  // namespace bim::testing
