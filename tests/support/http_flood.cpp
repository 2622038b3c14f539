#include "support/http_flood.h"

#include "base/file_util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace bim::testing {

namespace {

// One flood connection's progress.
struct Conn {
  int fd = -1;
  bool connected = false;
  size_t head_sent = 0;
  long long body_sent = 0;     // filler bytes of the body sent
  std::string pending;         // framing/filler queued for the socket
  bool body_done = false;
  long long next_byte_ms = 0;  // trickling: when the next head byte may go
  std::string answer;          // what the server sent so far
};

int OpenSocket(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

// The HTTP status of an answer ("HTTP/1.1 413 ..."), or 0 if it has none yet.
int StatusOf(const std::string& answer) {
  if (answer.size() < 12 || !answer.starts_with("HTTP/1.")) return 0;
  return std::atoi(answer.substr(9, 3).c_str());
}

long ProcStatusKiB(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(field + ":")) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

size_t Collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

}  // namespace

std::string FloodReport::Describe() const {
  std::string out = "connects=" + std::to_string(connects) + " connect_failures=" + std::to_string(connect_failures) +
                    " statuses={";
  for (const auto& [status, n] : statuses) out += std::to_string(status) + ":" + std::to_string(n) + ",";
  return out + "} body_sent=" + std::to_string(body_bytes_sent);
}

Flood::Flood(FloodSpec spec) : spec_(std::move(spec)) { thread_ = std::thread([this] { Run(); }); }

Flood::~Flood() { Stop(); }

FloodReport Flood::Stop() {
  if (!stopped_) {
    stopped_ = true;
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  return report_;
}

bool Flood::WaitOpen(int n, int seconds) const {
  for (long long end = MonotonicMillis() + seconds * 1000LL; MonotonicMillis() < end;) {
    if (open_ >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return open_ >= n;
}

void Flood::Run() {
  std::vector<Conn> conns(static_cast<size_t>(spec_.connections));
  const std::string filler(16 << 10, 'x');
  auto end = [&](Conn& c) {
    if (c.fd >= 0) {
      close(c.fd);
      if (c.connected) --open_;
    }
    ++report_.statuses[StatusOf(c.answer)];
    c = Conn();
    c.fd = -2;  // ended; reopened below if spec_.reconnect
  };
  auto start = [&](Conn& c) {
    c = Conn();
    c.fd = OpenSocket(spec_.port);
    if (c.fd < 0) {
      ++report_.connect_failures;
      c.fd = -2;
    }
  };
  for (Conn& c : conns) start(c);
  // Refills c.pending with the next piece of the body (framed when chunked); false when it is all out.
  auto next_body_piece = [&](Conn& c) {
    if (c.body_done) return false;
    long long left = spec_.body_bytes - c.body_sent;
    if (left <= 0) {
      c.body_done = true;
      if (!spec_.chunked) return false;
      c.pending = "0\r\n\r\n";
      return true;
    }
    size_t n = static_cast<size_t>(std::min<long long>(left, static_cast<long long>(filler.size())));
    if (spec_.chunked) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", n);
      c.pending = size + filler.substr(0, n) + "\r\n";
    } else {
      c.pending = filler.substr(0, n);
    }
    c.body_sent += static_cast<long long>(n);
    report_.body_bytes_sent += static_cast<long long>(n);
    return true;
  };

  std::vector<pollfd> fds;
  char buf[16384];
  while (!stop_) {
    long long now = MonotonicMillis();
    fds.clear();
    int wait_ms = 50;
    for (Conn& c : conns) {
      if (c.fd == -2 && spec_.reconnect) start(c);
      if (c.fd < 0) {
        fds.push_back({-1, 0, 0});
        continue;
      }
      short events = POLLIN;
      bool head_left = c.head_sent < spec_.head.size();
      if (!c.connected) {
        events |= POLLOUT;
      } else if (head_left && spec_.trickle_ms > 0) {
        if (now >= c.next_byte_ms) events |= POLLOUT;
        else wait_ms = std::min<int>(wait_ms, static_cast<int>(c.next_byte_ms - now));
      } else if (head_left || !c.pending.empty() || !c.body_done) {
        events |= POLLOUT;
      }
      fds.push_back({c.fd, events, 0});
    }
    if (poll(fds.data(), fds.size(), std::max(wait_ms, 1)) < 0 && errno != EINTR) break;
    now = MonotonicMillis();
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (fds[i].fd < 0 || c.fd < 0) continue;
      short got = fds[i].revents;
      if (!c.connected && (got & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++report_.connect_failures;
          close(c.fd);
          c.fd = -2;
          continue;
        }
        c.connected = true;
        ++open_;
        ++report_.connects;
        c.next_byte_ms = now;
      }
      if (got & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.answer.append(buf, static_cast<size_t>(n));
          // An answer's status line is all a flood needs: hang up and go again.
          if (StatusOf(c.answer) != 0 && c.answer.find("\r\n\r\n") != std::string::npos) end(c);
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          end(c);
          continue;
        }
      }
      if (!c.connected || !(got & POLLOUT)) continue;
      if (c.head_sent < spec_.head.size()) {
        size_t len = spec_.trickle_ms > 0 ? 1 : spec_.head.size() - c.head_sent;
        ssize_t n = send(c.fd, spec_.head.data() + c.head_sent, len, MSG_NOSIGNAL);
        if (n > 0) c.head_sent += static_cast<size_t>(n);
        else if (errno != EAGAIN && errno != EINTR) end(c);
        c.next_byte_ms = now + spec_.trickle_ms;
        continue;
      }
      for (int rounds = 0; rounds < 8; ++rounds) {  // a few pieces per wakeup, then let others go
        if (c.pending.empty() && !next_body_piece(c)) break;
        ssize_t n = send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
        if (n > 0) {
          c.pending.erase(0, static_cast<size_t>(n));
          continue;
        }
        if (errno != EAGAIN && errno != EINTR) end(c);
        break;
      }
    }
  }
  for (Conn& c : conns)
    if (c.fd >= 0) {
      close(c.fd);
      if (c.connected) --open_;
    }
}

TimedAnswer TimedRequest(int port, const std::string& method, const std::string& path, const std::string& token,
                         const std::string& body) {
  TimedAnswer a;
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  auto t0 = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(curl);
  a.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  double connect_s = 0, first_byte_s = 0;
  curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME, &connect_s);
  curl_easy_getinfo(curl, CURLINFO_STARTTRANSFER_TIME, &first_byte_s);
  a.connect_ms = connect_s * 1000;
  a.first_byte_ms = first_byte_s * 1000;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
  else a.error = curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return a;
}

std::string Head(const std::string& request_line, const std::string& token, const std::vector<std::string>& extra,
                 bool finish) {
  std::string head = request_line + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) head += "Authorization: Bearer " + token + "\r\n";
  for (const auto& line : extra) head += line + "\r\n";
  return finish ? head + "\r\n" : head;
}

FloodSpec RequestFlood(int port, int connections, const std::string& head) {
  FloodSpec spec;
  spec.port = port;
  spec.connections = connections;
  spec.head = head;
  return spec;
}

FloodSpec SlowHeadersFlood(int port, int connections, int trickle_ms, size_t header_bytes) {
  std::string head = "GET /v1/apps HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(header_bytes, 'a');
  FloodSpec spec = RequestFlood(port, connections, head);
  spec.trickle_ms = trickle_ms;
  return spec;
}

FloodSpec HugeBodyFlood(int port, int connections, const std::string& request_line, const std::string& token) {
  FloodSpec spec = RequestFlood(port, connections, Head(request_line, token, {"Content-Length: 1000000000"}));
  spec.body_bytes = 1000000000;
  return spec;
}

FloodSpec ChunkedBodyFlood(int port, int connections, const std::string& request_line, const std::string& token,
                           const std::vector<std::string>& extra) {
  std::vector<std::string> lines = {"Transfer-Encoding: chunked"};
  lines.insert(lines.end(), extra.begin(), extra.end());
  FloodSpec spec = RequestFlood(port, connections, Head(request_line, token, lines));
  spec.chunked = true;
  spec.body_bytes = 1LL << 40;
  return spec;
}

std::string CreateApiToken(int port, const std::string& admin_token, const std::string& name, const std::string& app,
                           std::string* error) {
  nlohmann::json body{{"name", name}};
  if (!app.empty()) body["app"] = app;
  TimedAnswer a = TimedRequest(port, "POST", "/v1/tokens", admin_token, body.dump());
  nlohmann::json j = nlohmann::json::parse(a.body, nullptr, false);
  if (a.status == 200 && j.is_object() && j.contains("token") && j["token"].is_string()) return j["token"];
  *error = std::to_string(a.status) + " " + a.body + a.error;
  return "";
}

long RssKiB(int pid) { return ProcStatusKiB(pid, "VmRSS"); }
long PeakRssKiB(int pid) { return ProcStatusKiB(pid, "VmHWM"); }

}  // namespace bim::testing
