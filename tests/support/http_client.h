// A minimal HTTP/1.1 client over a plain socket, for the zero-downtime proofs. It exists because
// libcurl silently re-sends a request whose reused keep-alive connection turned out dead, which hides
// exactly the failures the proofs must count. This client never retries and never re-sends: one call
// is one request, and any failure to get a complete answer is reported as an error.
//
// Only what the tests need: GET, numeric IPv4/IPv6 targets, Content-Length, chunked and
// close-delimited bodies, and optionally TLS (OpenSSL: SNI, the server's certificate verified against
// a CA file and the name; a TLS session is never resumed, each connection is a full handshake). Not
// for production use.
//
// Thread-safety: an HttpConnection is used by one thread at a time; distinct objects are independent.
#pragma once

#include <chrono>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace bim::testing {

// Where requests go: any numeric address and port (loopback, or a test host in a network namespace),
// with the Host header naming the app (e.g. "hello.localhost"), so a test can aim at nginx, at a
// container directly, or at another node's proxy.
struct HttpTarget {
  std::string address = "127.0.0.1";  // numeric IPv4 or IPv6, never a name
  int port = 0;
  std::string host;                    // Host header; "" sends "<address>:<port>"
  std::string path = "/";              // path and query
  // HTTPS: a TLS handshake on every new connection, sending SNI `tls_name` ("" = `host` without a
  // port) and verifying the server's chain against `ca_file` ("" = the system's roots) and that name.
  // A handshake or verification failure is the answer's error ("tls: ...").
  bool tls = false;
  std::string ca_file;
  std::string tls_name;
  // The same target with another path.
  HttpTarget WithPath(std::string p) const {
    HttpTarget t = *this;
    t.path = std::move(p);
    return t;
  }
};

struct HttpAnswer {
  int status = 0;            // 0 when no complete answer arrived
  std::string body;
  std::string error;         // why there is no answer: "connect: ...", "timeout after ...", "connection closed ..."
  bool reused = false;       // sent on a connection that had already carried a request
  bool server_closes = false;  // the answer said "Connection: close" (or was close-delimited)
  std::chrono::microseconds latency{0};  // from the start of the call (incl. connect) to the last byte
  bool ok() const { return status != 0; }
};

class HttpConnection {
 public:
  explicit HttpConnection(HttpTarget target);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one GET of target.path (or `path` if not empty) and reads the complete answer, within
  // `timeout` in total. With `keep_alive` the connection stays open for the next call (unless the
  // server closes it); otherwise the request says "Connection: close" and a new connection is made
  // per call. Before reusing an idle connection, one the server already closed (EOF waiting on it)
  // is dropped and a new one made: no request was sent on it, so that is not a retry. Once a request
  // is sent, any failure (reset, EOF, timeout, malformed answer) is the answer's error; it is never
  // re-sent.
  HttpAnswer Get(bool keep_alive, std::chrono::milliseconds timeout, const std::string& path = "");

  // Closes the connection if open.
  void Close();

 private:
  bool Connect(long long deadline_us, std::string* error);
  bool Handshake(long long deadline_us, std::string* error);  // TLS targets, after Connect
  // Whether an idle open connection can carry another request (the server has not closed it).
  bool IdleUsable();
  HttpTarget target_;
  int fd_ = -1;
  ssl_st* ssl_ = nullptr;      // TLS targets: the connection's session on fd_
  ssl_ctx_st* ctx_ = nullptr;  // TLS targets: roots loaded once per HttpConnection
  int requests_on_fd_ = 0;
};

// Microseconds on the monotonic clock: the one time base of requests' start/end times in the proofs.
long long MonotonicMicros();

// One GET on a fresh connection ("Connection: close").
HttpAnswer HttpFetch(const HttpTarget& target, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace bim::testing
