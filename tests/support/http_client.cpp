#include "support/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <strings.h>

namespace bim::testing {

long long MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

long long NowMicros() { return MonotonicMicros(); }

int RemainingMs(long long deadline_us) {
  long long left = deadline_us - NowMicros();
  return left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
}

// Waits until `fd` is ready for `events` or the deadline passes. False on timeout.
bool WaitFor(int fd, short events, long long deadline_us) {
  for (;;) {
    int ms = RemainingMs(deadline_us);
    if (ms == 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the following call report the error
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

// The last OpenSSL error of this thread as text (and the queue cleared).
std::string TlsError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return std::strerror(errno);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Reads from a connection (through its TLS session, if any) into a buffer, with one deadline for the
// whole answer.
class Reader {
 public:
  Reader(int fd, SSL* ssl, long long deadline_us) : fd_(fd), ssl_(ssl), deadline_us_(deadline_us) {}
  std::string buf;
  bool eof = false;
  std::string error;

  // Reads more bytes; false (with `error` or `eof` set) when none can come.
  bool More() {
    char chunk[16384];
    if (ssl_) {
      for (;;) {
        int n = SSL_read(ssl_, chunk, sizeof chunk);
        if (n > 0) {
          buf.append(chunk, static_cast<size_t>(n));
          return true;
        }
        int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          if (!WaitFor(fd_, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_us_)) {
            error = "timeout";
            return false;
          }
          continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN) eof = true;  // close_notify (or a bare EOF, see Handshake)
        else error = "tls: " + TlsError();
        return false;
      }
    }
    if (!WaitFor(fd_, POLLIN, deadline_us_)) {
      error = "timeout";
      return false;
    }
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      eof = true;
    } else {
      error = std::strerror(errno);
    }
    return false;
  }
  // Makes sure buf holds at least `n` bytes.
  bool Need(size_t n) {
    while (buf.size() < n)
      if (!More()) return false;
    return true;
  }
  // Returns the position of `token` in buf, reading more as needed; npos when it cannot arrive.
  size_t Find(const std::string& token, size_t limit = 1 << 20) {
    for (;;) {
      size_t pos = buf.find(token);
      if (pos != std::string::npos) return pos;
      if (buf.size() > limit || !More()) return std::string::npos;
    }
  }

 private:
  int fd_;
  SSL* ssl_;
  long long deadline_us_;
};

std::string ReadFailure(const Reader& r, const char* while_doing) {
  if (!r.error.empty()) return r.error == "timeout" ? r.error : std::string("read error ") + while_doing + ": " + r.error;
  return std::string("connection closed ") + while_doing;
}

}  // namespace

HttpConnection::HttpConnection(HttpTarget target) : target_(std::move(target)) {}

HttpConnection::~HttpConnection() {
  Close();
  if (ctx_) SSL_CTX_free(ctx_);
}

void HttpConnection::Close() {
  if (ssl_) SSL_free(ssl_);  // no close_notify: the tests never need one, and it could block
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  requests_on_fd_ = 0;
}

bool HttpConnection::IdleUsable() {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) == 0) return true;
  if (!ssl_) return false;  // plain HTTP: EOF or stray bytes, either way not reusable
  // TLS: the readable bytes may be only session tickets (TLS 1.3 sends them after the handshake);
  // a peek consumes those and says whether anything else (close_notify, EOF, data) is there.
  char c;
  int n = SSL_peek(ssl_, &c, 1);
  bool usable = n <= 0 && SSL_get_error(ssl_, n) == SSL_ERROR_WANT_READ;
  ERR_clear_error();
  return usable;
}

bool HttpConnection::Handshake(long long deadline_us, std::string* error) {
  auto fail = [&](std::string why) {
    *error = "tls: " + why;
    Close();
    return false;
  };
  if (!ctx_) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return fail("cannot create a context: " + TlsError());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    // Every connection a full handshake: a renewed certificate must be seen by new connections.
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    // A close without close_notify ends a close-delimited body like plain EOF; a short body is still
    // caught by Content-Length or chunking.
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    int ok = target_.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                     : SSL_CTX_load_verify_locations(ctx_, target_.ca_file.c_str(), nullptr);
    if (ok != 1) {
      std::string why = "cannot load the CA file " + target_.ca_file + ": " + TlsError();
      SSL_CTX_free(ctx_);
      ctx_ = nullptr;
      return fail(why);
    }
  }
  std::string name = target_.tls_name;
  if (name.empty()) name = target_.host.substr(0, target_.host.rfind(':') == std::string::npos ? std::string::npos
                                                                                              : target_.host.rfind(':'));
  if (name.empty()) name = target_.address;
  ssl_ = SSL_new(ctx_);
  if (!ssl_) return fail("cannot create a session: " + TlsError());
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, name.c_str());
  SSL_set1_host(ssl_, name.c_str());
  for (;;) {
    int n = SSL_connect(ssl_);
    if (n == 1) return true;
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!WaitFor(fd_, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_us)) return fail("timeout in the handshake");
      continue;
    }
    long verify = SSL_get_verify_result(ssl_);
    std::string why = TlsError();
    if (verify != X509_V_OK) why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    return fail("handshake with " + name + " failed: " + why);
  }
}

bool HttpConnection::Connect(long long deadline_us, std::string* error) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, target_.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(target_.port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, target_.address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(target_.port));
    len = sizeof *v6;
  } else {
    *error = "connect: \"" + target_.address + "\" is not a numeric IP address";
    return false;
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
    *error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (!WaitFor(fd, POLLOUT, deadline_us)) {
    *error = "timeout connecting";
    ::close(fd);
    return false;
  }
  int so_error = 0;
  socklen_t so_len = sizeof so_error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
  if (so_error != 0) {
    *error = std::string("connect: ") + std::strerror(so_error);
    ::close(fd);
    return false;
  }
  fd_ = fd;
  requests_on_fd_ = 0;
  return !target_.tls || Handshake(deadline_us, error);
}

HttpAnswer HttpConnection::Get(bool keep_alive, std::chrono::milliseconds timeout, const std::string& path) {
  HttpAnswer a;
  long long start = NowMicros();
  long long deadline = start + timeout.count() * 1000;
  auto finish = [&](std::string error) {
    a.error = std::move(error);
    if (!a.error.empty()) {
      a.status = 0;
      Close();
    }
    a.latency = std::chrono::microseconds(NowMicros() - start);
    return a;
  };

  if (!keep_alive) Close();
  // An idle connection the server closed (or wrote to) since the last answer is not reusable; no
  // request went out on it, so dropping it is not a retry.
  if (fd_ >= 0 && !IdleUsable()) Close();
  if (fd_ < 0) {
    std::string error;
    if (!Connect(deadline, &error)) return finish(error);
  }
  a.reused = requests_on_fd_ > 0;
  ++requests_on_fd_;

  std::string host = target_.host.empty() ? target_.address + ":" + std::to_string(target_.port) : target_.host;
  std::string request = "GET " + (path.empty() ? target_.path : path) + " HTTP/1.1\r\nHost: " + host +
                        "\r\nUser-Agent: bim-proof\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
  const std::string on = a.reused ? " on a reused connection" : "";
  size_t sent = 0;
  while (sent < request.size()) {
    if (!WaitFor(fd_, POLLOUT, deadline)) return finish("timeout sending the request" + on);
    if (ssl_) {
      int n = SSL_write(ssl_, request.data() + sent, static_cast<int>(request.size() - sent));
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_WRITE) continue;
      if (e == SSL_ERROR_WANT_READ) {
        if (!WaitFor(fd_, POLLIN, deadline)) return finish("timeout sending the request" + on);
        continue;
      }
      return finish("send failed" + on + ": tls: " + TlsError());
    }
    ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return finish(std::string("send failed") + on + ": " + std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }

  Reader r(fd_, ssl_, deadline);
  size_t head_end = r.Find("\r\n\r\n", 64 * 1024);
  if (head_end == std::string::npos) {
    if (r.error == "timeout") return finish("timeout after " + std::to_string(timeout.count()) + " ms waiting for the answer" + on);
    return finish(ReadFailure(r, ("before any answer" + on).c_str()));
  }
  std::string head = r.buf.substr(0, head_end);
  r.buf.erase(0, head_end + 4);
  // Status line: HTTP/1.x NNN reason
  if (head.size() < 12 || head.compare(0, 7, "HTTP/1.") != 0) return finish("malformed status line: " + head.substr(0, 40));
  bool http10 = head[7] == '0';
  int status = std::atoi(head.c_str() + 9);
  if (status < 100 || status > 999) return finish("malformed status line: " + head.substr(0, 40));
  long long content_length = -1;
  bool chunked = false;
  bool close = http10;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    if (name == "content-length") content_length = std::atoll(value.c_str());
    else if (name == "transfer-encoding" && Lower(value).find("chunked") != std::string::npos) chunked = true;
    else if (name == "connection") {
      std::string v = Lower(value);
      if (v.find("close") != std::string::npos) close = true;
      if (v.find("keep-alive") != std::string::npos && http10) close = false;
    }
  }

  std::string body;
  if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
    // no body
  } else if (chunked) {
    for (;;) {
      size_t eol = r.Find("\r\n");
      if (eol == std::string::npos) return finish(ReadFailure(r, "inside a chunked body"));
      long long size = std::strtoll(r.buf.substr(0, eol).c_str(), nullptr, 16);
      r.buf.erase(0, eol + 2);
      if (size == 0) {
        if (r.Find("\r\n") == std::string::npos) return finish(ReadFailure(r, "after the last chunk"));
        break;  // no trailers expected from the servers under test
      }
      if (!r.Need(static_cast<size_t>(size) + 2)) return finish(ReadFailure(r, "inside a chunk"));
      body.append(r.buf, 0, static_cast<size_t>(size));
      r.buf.erase(0, static_cast<size_t>(size) + 2);
    }
  } else if (content_length >= 0) {
    if (!r.Need(static_cast<size_t>(content_length)))
      return finish(ReadFailure(r, ("after " + std::to_string(r.buf.size()) + " of " +
                                    std::to_string(content_length) + " body bytes").c_str()));
    body = r.buf.substr(0, static_cast<size_t>(content_length));
  } else {
    while (r.More()) {
    }
    if (!r.eof) return finish(ReadFailure(r, "inside a close-delimited body"));
    body = r.buf;
    close = true;
  }
  a.status = status;
  a.body = std::move(body);
  a.server_closes = close;
  if (close || !keep_alive) Close();
  return finish("");
}

HttpAnswer HttpFetch(const HttpTarget& target, std::chrono::milliseconds timeout) {
  HttpConnection c(target);
  return c.Get(false, timeout);
}

}  // namespace bim::testing
