#include "base/health_probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace bim {

namespace {
size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }
}  // namespace

Status ProbeHealth(int port, const std::string& path, std::chrono::milliseconds timeout) {
  return ProbeHealth(Endpoint{"127.0.0.1", port}, path, timeout);
}

Status ProbeHealth(const Endpoint& at, const std::string& path, std::chrono::milliseconds timeout) {
  CURL* curl = curl_easy_init();
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::string url = "http://" + at.ToString() + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "bimd-health/1");
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return Status::Unavailable(std::string(curl_easy_strerror(rc)));
  if (code >= 200 && code < 400) return Status::OK();
  return Status::Unavailable("answered " + std::to_string(code));
}

Status PickFreeLoopbackPort(int* port) {
  // Ports are drawn from below Linux's ephemeral range (32768-60999 by default): a port the kernel
  // could hand to an outgoing connection between our probe and the real bind would make that bind
  // fail, and tests and health checks open many outgoing connections.
  static thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32767);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(pick(rng)));
    bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (free) {
      *port = ntohs(addr.sin_port);
      return Status::OK();
    }
  }
  return Status::Unavailable("no free port on 127.0.0.1 between 20000 and 32767");
}

}  // namespace bim
