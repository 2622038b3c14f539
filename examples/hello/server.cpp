// hello-server: the demo app, and the app bim's tests deploy. A tiny static HTTP/1.1 server with no
// dependencies, so its image can be built FROM scratch (no registry is reachable to pull a base image).
//
//   GET /              200 "Hello from bim! <GREETING>\n"   (GREETING from the environment, e.g. from .env)
//   GET /slow?ms=N     the same answer as /, after N ms (default SLOW_MS, else 2000; at most 120000): a
//                      request that is still in flight when a release switches
//   GET /healthz       200 "ok" — or HEALTH_STATUS (e.g. 500) when that env var is set, to test failed deploys
//   GET /version       200 $APP_VERSION
//   GET /log?line=TEXT 200 "logged\n" after printing TEXT (percent-decoded, one line) to stdout: a log
//                      line on demand, for tests of log streaming and of how pages show app output
//   anything else      404
// Env, all optional, times in ms since the process started (Docker restarts it: the clock starts again):
//   PORT (default 8080), GREETING, APP_VERSION, HEALTH_STATUS, SLOW_MS
//   STARTUP_LOG           a line printed to stdout at start (before listening)
//   STARTUP_DELAY_MS      sleep before listening
//   EXIT_AFTER_MS         exit with EXIT_CODE (default 3) after that long, to test crash handling
//   UNHEALTHY_AFTER_MS    from then on /healthz answers UNHEALTHY_STATUS (default 503)
//   FAIL_AFTER_MS         from then on / and /slow answer 500 "failing\n" (a release that breaks when live)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

const auto kStarted = std::chrono::steady_clock::now();

// True once `ms` (> 0) milliseconds have passed since the process started.
bool After(int ms) {
  return ms > 0 && std::chrono::steady_clock::now() - kStarted >= std::chrono::milliseconds(ms);
}

// The value of `key` in a query string ("a=1&ms=200"), or "".
std::string QueryParam(const std::string& query, const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string pair = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (pair.rfind(key + "=", 0) == 0) return pair.substr(key.size() + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

// %XX and '+' decoded; a newline or NUL becomes a space (one log line stays one line).
std::string PercentDecode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') c = ' ';
    if (c == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      c = static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
    out += (c == '\n' || c == '\r' || c == '\0') ? ' ' : c;
  }
  return out;
}

std::string Response(int code, const std::string& body) {
  const char* reason = code == 200 ? "OK" : code == 404 ? "Not Found" : code == 503 ? "Service Unavailable" : "Error";
  return "HTTP/1.1 " + std::to_string(code) + " " + reason +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Serves requests on one keep-alive connection until the peer closes it.
void Serve(int fd) {
  std::string buf;
  char chunk[4096];
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0 || buf.size() > 65536) {
        ::close(fd);
        return;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);  // requests we serve carry no body
    size_t sp1 = head.find(' ');
    size_t sp2 = head.find(' ', sp1 + 1);
    std::string path = sp1 == std::string::npos ? "/" : head.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string query;
    if (size_t q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path.resize(q);
    }
    std::string reply;
    if (path == "/" || path == "/slow") {
      if (path == "/slow") {
        std::string ms = QueryParam(query, "ms");
        int wait = ms.empty() ? EnvInt("SLOW_MS", 2000) : std::atoi(ms.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(wait, 0, 120000)));
      }
      reply = After(EnvInt("FAIL_AFTER_MS", 0)) ? Response(500, "failing\n")
                                                 : Response(200, "Hello from bim! " + Env("GREETING", "") + "\n");
    } else if (path == "/healthz") {
      int code = After(EnvInt("UNHEALTHY_AFTER_MS", 0)) ? EnvInt("UNHEALTHY_STATUS", 503) : EnvInt("HEALTH_STATUS", 200);
      reply = Response(code ? code : 200, "ok\n");
    } else if (path == "/log") {
      std::string line = PercentDecode(QueryParam(query, "line")) + "\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
      reply = Response(200, "logged\n");
    } else if (path == "/version") {
      reply = Response(200, Env("APP_VERSION", "unknown") + "\n");
    } else {
      reply = Response(404, "not found\n");
    }
    SendAll(fd, reply);
  }
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  // PID 1 in a container gets no default signal handlers: exit on SIGTERM/SIGINT ourselves.
  signal(SIGTERM, [](int) { _exit(0); });
  signal(SIGINT, [](int) { _exit(0); });
  int port = std::atoi(Env("PORT", "8080").c_str());
  if (int delay = EnvInt("STARTUP_DELAY_MS", 0); delay > 0) usleep(delay * 1000);
  if (int after = EnvInt("EXIT_AFTER_MS", 0); after > 0) {
    std::thread([after] {
      usleep(after * 1000);
      int code = EnvInt("EXIT_CODE", 3);
      std::fprintf(stderr, "hello-server: exiting as EXIT_AFTER_MS asked (exit code %d)\n", code);
      _exit(code);
    }).detach();
  }
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 512) != 0) {
    std::fprintf(stderr, "hello-server: cannot listen on port %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  if (const char* line = std::getenv("STARTUP_LOG")) std::printf("%s\n", line);
  std::printf("hello-server: listening on port %d\n", port);
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(ls, nullptr, nullptr);
    if (fd < 0) continue;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(Serve, fd).detach();
  }
}
