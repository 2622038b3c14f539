// HttpServer: bimd's HTTP/1.1 server (Boost.Beast over Asio, TLS through OpenSSL), built so that no
// client can exhaust it. Limits and defaults are in http_options.h.
//
// How a request is served:
//   1. One I/O thread accepts connections and reads request headers for all of them (bounded size,
//      total deadline). A slow or silent client holds a socket, never a thread.
//   2. With the headers complete, the route is looked up, the body framing checked against the
//      route's limits (Content-Length over the limit, or any Transfer-Encoding on a route that does
//      not take chunked bodies, is refused), the route's `admit` hook runs (authentication), and the
//      client's caps are checked. A refusal is answered at once; the body is never read.
//   3. A short route's body is read (bounded) and its handler runs on the worker pool; a stream
//      route's handler runs on a thread of its own and may read the body as it arrives and write a
//      chunked response piece by piece.
//
// Thread-safety: register routes and set hooks before Bind(); after that, Serve() runs on one
// thread, Stop() and ReloadTls() may be called from any thread. Handlers run concurrently on worker
// and stream threads. Ownership: handlers are copied into the server; what they capture must
// outlive Serve().
#pragma once

#include <any>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "http/http_options.h"

namespace bim {

class HttpExchange;  // the connection side of one request (http_server.cpp)

// One request as a handler sees it.
struct HttpRequest {
  std::string method;                 // "GET"
  std::string target;                 // as sent: path and query
  std::string path;                   // percent-decoded, without the query
  std::vector<std::string> matches;   // [0] the path, [1..] the route pattern's groups
  std::vector<std::pair<std::string, std::string>> params;   // decoded query, in order
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string body;                   // the whole body (routes without streamed_body)
  std::string remote;                 // peer address "ip:port"

  // Set by the route's admit hook: whom the caps count against ("" = anonymous, one shared client),
  // whether it is exempt from per-client caps and served first, and who it is (for the handler).
  std::string client;
  bool privileged = false;
  std::any identity;

  // Header and query lookups: the first match ("" if none); header names case-insensitively.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  std::string Param(std::string_view name) const;
  bool HasParam(std::string_view name) const;
  // Content-Length, or -1 when the request has none (no body, or a chunked one).
  int64_t ContentLength() const;

  // Routes with streamed_body: reads the body as it arrives, passing each piece to `on_data`, until
  // the body ends (OK) or `on_data` returns false (OK; the rest is not read). TooLarge past the
  // route's max_body_bytes, DeadlineExceeded when the client is silent for read_timeout,
  // InvalidArgument when the body is malformed or cut off. Call at most once, from the handler.
  Status ReadBody(const std::function<bool(std::string_view piece)>& on_data) const;

  HttpExchange* exchange = nullptr;   // set by the server
};

// The answer a handler builds: either a whole body (SetContent), or, on stream routes only, a
// chunked body written piece by piece after BeginStream.
class HttpResponse {
 public:
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  void SetContent(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
  void SetHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }

  // Stream routes: sends the status line and headers now (status, headers and `type`; the body is
  // chunked). False if the client is already gone, or on a short route (where streaming would hold
  // a worker). Call once; a later SetContent is ignored.
  bool BeginStream(const std::string& type);
  // Sends one piece and waits until the socket took it (write_timeout_seconds at most). False once
  // the client is gone or the server stops; then every later Write is false too.
  bool Write(std::string_view data);
  // Stream routes: the body failed after BeginStream (e.g. a download whose source broke). The
  // connection is closed without the chunked body's last chunk, so the client sees it cut off
  // rather than complete. Later Writes are false.
  void Abort() { aborted_ = true; }
  bool aborted() const { return aborted_; }
  bool streaming() const { return streaming_; }

  HttpExchange* exchange = nullptr;   // set by the server

 private:
  bool streaming_ = false;
  bool aborted_ = false;
};

// Decodes application/x-www-form-urlencoded text (a query, or a form's body) into its pairs, in order,
// appending to *params. A malformed escape keeps the text as sent.
void ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* params);

using HttpHandler = std::function<void(const HttpRequest& req, HttpResponse& res)>;
// Runs on the I/O thread once the headers are in, before the body is read: authenticates, sets
// req.client/privileged/identity. A non-OK Status is the answer (the body is never read). Must be
// quick and must not block on the network.
using HttpAdmit = std::function<Status(HttpRequest& req)>;

struct HttpRoute {
  HttpAdmit admit;      // may be empty: anonymous
  HttpHandler handler;
};

// How a route takes its body and how long it may run.
struct RouteOptions {
  int64_t max_body_bytes = -1;  // -1: options.max_body_bytes
  std::string body_limit_message;  // the 413 message when the body is too large ("" = a generic one)
  bool chunked_body = false;    // accept Transfer-Encoding: chunked (counted against max_body_bytes)
  bool streamed_body = false;   // the handler reads the body with req.ReadBody (needs `stream`)
  // "" = a short request on the worker pool. Otherwise a long-lived response of this stream class,
  // run on its own thread and counted against max_streams and max_streams_per_client[stream].
  std::string stream;

  // A stream route of class `stream_class` with a small buffered body (max_body_bytes).
  static RouteOptions Stream(std::string stream_class) {
    RouteOptions o;
    o.stream = std::move(stream_class);
    return o;
  }
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stop() and Serve() must have returned

  // Routes: `pattern` is an ECMAScript regex matched against the whole decoded path; its groups are
  // req.matches[1..]. The first registered match wins. A path with no route answers 404, a path
  // with routes for other methods 405.
  void Handle(const std::string& method, const std::string& pattern, HttpRoute route, RouteOptions options = {});
  void Get(const std::string& pattern, HttpRoute route, RouteOptions options = {});
  void Post(const std::string& pattern, HttpRoute route, RouteOptions options = {});
  void Put(const std::string& pattern, HttpRoute route, RouteOptions options = {});
  void Delete(const std::string& pattern, HttpRoute route, RouteOptions options = {});

  // Fills the body of answers the server makes itself (refusals, 404, overload) and of handlers'
  // errors; default: the message as text/plain.
  void SetErrorWriter(std::function<void(HttpResponse& res, const Status& error)> writer);
  // Called once per answered request (including refusals) with its final status. Any thread.
  void SetLogger(std::function<void(const HttpRequest& req, int status)> logger);

  // Loads the TLS files (when set) and listens on host:port (port 0 picks a free one).
  // InvalidArgument naming the files when they cannot be loaded; Unavailable when it cannot bind.
  Status Bind(const std::string& host, int port, int* bound_port);
  // Loads the TLS files again (e.g. a renewed certificate); new connections use them, open ones
  // keep theirs. On failure the old certificate stays in use. FailedPrecondition without TLS.
  Status ReloadTls();
  // Serves until Stop(); returns once every connection is closed and every handler has returned
  // (streams see their client as gone and end).
  void Serve();
  void Stop();

  // Counters for tests and diagnostics (approximate while serving).
  struct Stats {
    int connections = 0;
    int streams = 0;
    long long evicted = 0;          // slow or idle connections closed to make room at max_connections
    long long refused = 0;          // new connections closed after waiting header_timeout_ms for room at max_connections
    long long header_timeouts = 0;  // connections closed at header_timeout_ms without a complete head
  };
  Stats GetStats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bim
