#include "http/http_suite.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace bim::testing {

namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  for (size_t off = 0; off < bytes.size();) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

RawAnswer RawExchange(int port, const std::string& bytes, int timeout_ms, bool stop_after_status) {
  RawAnswer a;
  int fd = Connect(port);
  if (fd < 0) return a;
  auto t0 = std::chrono::steady_clock::now();
  SendAll(fd, bytes);  // the server may answer and close before taking it all
  char buf[16384];
  while (MsSince(t0) < timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      a.closed = true;
      break;
    }
    if (a.first_byte_ms < 0) a.first_byte_ms = MsSince(t0);
    a.bytes.append(buf, static_cast<size_t>(n));
    if (stop_after_status && a.Status() != 0 && a.bytes.find("\r\n\r\n") != std::string::npos) break;
  }
  close(fd);
  return a;
}

OpenConnection::OpenConnection(int port, const std::string& head, bool wait_for_status, int timeout_ms) {
  fd_ = Connect(port);
  if (fd_ < 0 || !SendAll(fd_, head) || !wait_for_status) return;
  ReadAnswer(timeout_ms);
}

void OpenConnection::ReadAnswer(int timeout_ms) {
  auto t0 = std::chrono::steady_clock::now();
  char buf[4096];
  while (fd_ >= 0 && MsSince(t0) < timeout_ms && answer_.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer_.append(buf, static_cast<size_t>(n));
  }
  if (answer_.size() >= 12 && answer_.starts_with("HTTP/1.")) status_ = std::atoi(answer_.substr(9, 3).c_str());
}

OpenConnection::~OpenConnection() { Close(); }

bool OpenConnection::Send(const std::string& bytes) { return fd_ >= 0 && SendAll(fd_, bytes); }

long OpenConnection::SendNow(const std::string& bytes) {
  if (fd_ < 0) return -1;
  ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) return static_cast<long>(n);
  return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

void OpenConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::string CreateToken(const Bimd& server, const std::string& name, const std::string& app) {
  std::string error;
  std::string token = CreateApiToken(server.api_port(), server.token(), name, app, &error);
  if (token.empty()) ADD_FAILURE() << "cannot create token " << name << ": " << error;
  return token;
}

ServiceProbe::ServiceProbe(const Bimd& server, std::string app, int period_ms)
    : server_(server), app_(std::move(app)), period_ms_(period_ms) {
  thread_ = std::thread([this] {
    while (!stop_) {
      TimedAnswer a = TimedRequest(server_.api_port(), "GET", "/v1/apps", server_.token());
      ++admin_requests;
      if (a.status != 200 || a.ms > admin_max_ms)
        admin_worst = std::to_string(a.status) + " after " + std::to_string(a.ms) + " ms (connected after " +
                      std::to_string(a.connect_ms) + " ms, first byte after " + std::to_string(a.first_byte_ms) +
                      " ms) " + a.error + " " + a.body.substr(0, 200);
      if (a.status != 200) ++admin_failures;
      admin_max_ms = std::max(admin_max_ms, a.ms);
      if (!app_.empty()) {
        ++app_requests;
        if (server_.Get(app_, "/").status != 200) ++app_failures;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(period_ms_));
    }
  });
}

void ServiceProbe::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace bim::testing
