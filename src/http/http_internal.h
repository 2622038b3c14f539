// Internals of HttpServer shared by http_server.cpp (accepting, routing, caps, stopping) and
// http_connection.cpp (one connection's life). Only these two files include Boost.
//
// Threads: everything here runs on the one I/O thread (the one in Serve()) unless a comment says
// otherwise. Worker and stream threads reach a connection only by posting to the I/O thread.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#include <regex>
#include <string>

#include "http/http_server.h"
#include "http/work_queue.h"

namespace bim {

namespace net = boost::asio;
using tcp = net::ip::tcp;

long long NowMs();  // monotonic

// What a handler thread uses to reach its connection (implemented by the connection).
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual Status ReadBody(const std::function<bool(std::string_view)>& on_data) = 0;  // stream thread
  virtual bool BeginStream(const HttpResponse& head) = 0;                            // stream thread
  virtual bool Write(std::string_view data) = 0;                                     // stream thread
};

struct RouteEntry {
  std::string method;
  std::regex pattern;
  HttpRoute route;
  RouteOptions options;
};

// The server's view of a connection, for eviction and stopping.
class ConnectionBase {
 public:
  enum class Phase { kHeaders, kBody, kHandler, kWriting, kLinger, kClosed };
  virtual ~ConnectionBase() = default;
  virtual void Start() = 0;
  virtual void Close() = 0;
  // Waiting for a request's headers (or lingering): holds no request (closed first when stopping).
  bool Evictable() const { return phase_ == Phase::kHeaders || phase_ == Phase::kLinger; }
  // May be evicted at the connection cap now: lingering; or waiting for headers and known to be slow
  // or idle: part of a head arrived and the rest has not (a trickling client), or it was served
  // before (idle keep-alive), or it has sent nothing for `grace_ms` since it was accepted. A fresh
  // connection whose first bytes the I/O thread has not processed yet is never evicted: its request
  // may be complete and merely unread (under a flood, the I/O thread accepts many connections per turn).
  bool EvictableNow(long long now_ms, long long grace_ms) const {
    if (phase_ == Phase::kLinger) return true;
    if (phase_ != Phase::kHeaders) return false;
    return head_started_ || served_ || now_ms - phase_since_ms_ >= grace_ms;
  }
  // A stream handler runs for it (closed when the server stops, so the stream ends).
  virtual bool Streaming() const = 0;
  // Bytes the client sent that the server has not read yet (the socket's receive queue): a request
  // about to be served, which eviction passes over while it can.
  virtual size_t BytesWaiting() = 0;
  bool Lingering() const { return phase_ == Phase::kLinger; }
  long long phase_since_ms() const { return phase_since_ms_; }

 protected:
  void SetPhase(Phase p) {
    phase_ = p;
    phase_since_ms_ = NowMs();
  }
  Phase phase_ = Phase::kHeaders;
  long long phase_since_ms_ = 0;
  bool head_started_ = false;  // bytes of the current head were parsed; the head is not complete
  bool served_ = false;        // a request on this connection was answered (now idle keep-alive)
};

class HttpServer::Impl {
 public:
  explicit Impl(HttpServerOptions o);

  // Setup (before Serve).
  HttpServerOptions options;
  std::vector<RouteEntry> routes;
  std::function<void(HttpResponse&, const Status&)> error_writer;
  std::function<void(const HttpRequest&, int)> logger;

  net::io_context io{1};
  tcp::acceptor acceptor{io};
  net::steady_timer accept_retry{io};
  // A newcomer that found no room at max_connections (at most one: accepting waits with it).
  std::optional<tcp::socket> parked;
  long long parked_since_ms = 0;
  net::steady_timer park_timer{io};
  // Where lingering connections' unwanted body bytes go (I/O thread only; never read).
  std::vector<char> drain;
  std::shared_ptr<net::ssl::context> tls;  // null: plain HTTP. Swapped on the I/O thread only.
  std::unique_ptr<WorkQueue> workers;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  std::atomic<bool> stop_requested{false};

  // I/O thread state.
  std::list<std::shared_ptr<ConnectionBase>> connections;
  struct ClientLoad {
    int requests = 0;
    std::map<std::string, int> streams;
  };
  std::map<std::string, ClientLoad> clients;
  int streams = 0;          // stream handlers admitted and not finished
  int stream_threads = 0;   // stream threads not yet finished
  bool stopping = false;

  std::atomic<int> stat_connections{0};
  std::atomic<int> stat_streams{0};
  std::atomic<long long> stat_evicted{0};
  std::atomic<long long> stat_refused{0};
  std::atomic<long long> stat_header_timeouts{0};

  // Route lookup: the entry for method+path (groups in *matches), or null with *status 404/405.
  const RouteEntry* FindRoute(const std::string& method, const std::string& path, std::vector<std::string>* matches,
                              int* status) const;
  // Counts a request against its client's caps and the server's, or says why it may not run.
  Status Reserve(const HttpRequest& req, const RouteOptions& route);
  Status TryReserve(const HttpRequest& req, const RouteOptions& route);
  void Release(const std::string& client, const std::string& stream_class);
  // Runs `fn` on a thread of its own (a stream handler).
  void RunStreamThread(std::function<void()> fn);
  // A closed connection leaves the list.
  void Removed(ConnectionBase* c);
  // Answers errors the server makes: the error writer, then `http_status` if non-zero.
  void WriteError(HttpResponse& res, const Status& error, int http_status = 0) const;
  void Log(const HttpRequest& req, int status) const;

  void Accept();
  // Places an accepted connection, making room at max_connections; false when there is none yet
  // and the socket is parked (accepting stops until WaitForRoom places it).
  bool OnAccepted(tcp::socket socket);
  bool MakeRoom();
  void WaitForRoom();
  void Place(tcp::socket socket);
  void BeginStop();
  void MaybeFinishStop();
  Status LoadTls(std::shared_ptr<net::ssl::context>* out) const;
};

// Creates a connection for an accepted socket (TLS when `tls` is set).
std::shared_ptr<ConnectionBase> MakeConnection(HttpServer::Impl& server, tcp::socket socket,
                                               std::shared_ptr<net::ssl::context> tls);

// Path decoding (http_request.cpp). False when the percent-encoding is malformed.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

}  // namespace bim
