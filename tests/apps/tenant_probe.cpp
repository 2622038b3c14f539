// tenant-probe: the hostile tenant app of the tenants suite. A static binary (its image is FROM
// scratch) that tries what an attacker's app or build would try and reports what it got.
//
// As a server (no arguments; PORT, default 8080):
//   GET /healthz            200 "ok"
//   GET /reach?t=H:P,H:P    {"H:P": "open" | "refused" | "timeout" | "unreachable" | "error ..."} (TCP connect)
//   GET /file?path=/x       the file's bytes (404 if absent): what the image holds
//   GET /env                the environment, one KEY=VALUE per line
//   GET /threads?n=N        starts up to N threads alive together, then ends them; {"started": k}
//   GET /log?kb=N           writes N KiB of log lines to stdout; /log?raw=TEXT writes TEXT as is
//   anything else           200 "probe\n"
// Env: ALLOC_MB_AT_START (allocate and touch that much before listening, to meet a memory limit).
//
// As a command (exec-form RUN steps of a build):
//   tenant-probe reach FILE H:P...     writes "H:P result" lines to FILE (and stdout)
//   tenant-probe threads N             prints "threads: k" (how many it could start)
//   tenant-probe alloc MB              allocates and touches MB MiB, prints "allocated MB"
//   tenant-probe sleep SECONDS [TAG]   sleeps (TAG only marks the process for the test to find)
//   tenant-probe print TEXT            prints TEXT as is (escape sequences included)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ;

namespace {

std::string Reach(const std::string& target) {
  size_t colon = target.rfind(':');
  if (colon == std::string::npos) return "error bad target";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(target.c_str() + colon + 1)));
  if (inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr.sin_addr) != 1) return "error bad address";
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("error socket ") + std::strerror(errno);
  std::string result;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    result = "open";
  } else if (errno != EINPROGRESS) {
    result = errno == ECONNREFUSED ? "refused" : errno == ENETUNREACH || errno == EHOSTUNREACH ? "unreachable"
                                                                                                : std::strerror(errno);
  } else {
    pollfd p{fd, POLLOUT, 0};
    int n = poll(&p, 1, 1500);
    int err = 0;
    socklen_t len = sizeof err;
    if (n == 0) result = "timeout";
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
      result = err == ECONNREFUSED ? "refused" : err == ENETUNREACH || err == EHOSTUNREACH ? "unreachable" : std::strerror(err);
    else result = "open";
  }
  close(fd);
  return result;
}

// Tries every target at once (each waits up to 1.5 s), results in the targets' order.
std::vector<std::string> ReachAll(const std::vector<std::string>& targets) {
  std::vector<std::string> results(targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i) threads.emplace_back([&, i] { results[i] = Reach(targets[i]); });
  for (auto& t : threads) t.join();
  return results;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string Param(const std::string& query, const std::string& key) {
  for (const auto& kv : Split(query, '&'))
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
  return "";
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

void Touch(size_t mb) {
  for (size_t i = 0; i < mb; ++i) {
    char* p = static_cast<char*>(std::malloc(1 << 20));
    if (!p) return;
    std::memset(p, 1, 1 << 20);  // kept: the point is to hold it
  }
}

// Starts up to n threads that all stay alive together (like a fork bomb), counts them, then lets them
// exit before returning, so the process is back to normal afterwards.
int StartThreads(int n) {
  static std::atomic<bool> release;
  release = false;
  std::vector<pthread_t> started;
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    int rc = pthread_create(&t, &attr, [](void*) -> void* {
      while (!release) usleep(1000);
      return nullptr;
    }, nullptr);
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    started.push_back(t);
  }
  release = true;
  for (pthread_t t : started) pthread_join(t, nullptr);
  return static_cast<int>(started.size());
}

std::string ReadFile(const std::string& path, bool* ok) {
  *ok = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  *ok = true;
  return out;
}

void Send(int fd, int code, const std::string& body) {
  std::string head = "HTTP/1.1 " + std::to_string(code) + (code == 200 ? " OK" : " Not Found") +
                     "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n";
  std::string all = head + body;
  for (size_t off = 0; off < all.size();) {
    ssize_t n = send(fd, all.data() + off, all.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

void Handle(int fd) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
  std::string target = sp1 == std::string::npos ? "/" : req.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string path = target.substr(0, target.find('?'));
  std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
  if (path == "/healthz") return Send(fd, 200, "ok\n");
  if (path == "/reach") {
    std::vector<std::string> targets = Split(Unescape(Param(query, "t")), ',');
    std::vector<std::string> results = ReachAll(targets);
    std::string json = "{";
    for (size_t i = 0; i < targets.size(); ++i) json += (i ? "," : "") + ("\"" + targets[i] + "\":\"" + results[i] + "\"");
    return Send(fd, 200, json + "}");
  }
  if (path == "/file") {
    bool ok;
    std::string body = ReadFile(Unescape(Param(query, "path")), &ok);
    return Send(fd, ok ? 200 : 404, ok ? body : "no such file\n");
  }
  if (path == "/env") {
    std::string body;
    for (char** e = environ; *e; ++e) body += std::string(*e) + "\n";
    return Send(fd, 200, body);
  }
  if (path == "/threads") return Send(fd, 200, "{\"started\":" + std::to_string(StartThreads(std::atoi(Param(query, "n").c_str()))) + "}");
  if (path == "/log") {
    std::string raw = Unescape(Param(query, "raw"));
    if (!raw.empty()) {
      std::fwrite(raw.data(), 1, raw.size(), stdout);
    } else {
      std::string line(1023, 'L');
      for (int i = 0, kb = std::atoi(Param(query, "kb").c_str()); i < kb; ++i) std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
    return Send(fd, 200, "logged\n");
  }
  Send(fd, 200, "probe\n");
}

int Serve() {
  if (const char* mb = std::getenv("ALLOC_MB_AT_START")) Touch(static_cast<size_t>(std::atoi(mb)));
  int port = std::getenv("PORT") ? std::atoi(std::getenv("PORT")) : 8080;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const char* bind_ip = std::getenv("BIND");
  addr.sin_addr.s_addr = bind_ip ? inet_addr(bind_ip) : htonl(INADDR_ANY);
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(s, 64) != 0) {
    std::perror("tenant-probe: listen");
    return 1;
  }
  for (;;) {
    int c = accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    try {
      std::thread([c] {
        Handle(c);
        close(c);
      }).detach();
    } catch (const std::system_error&) {  // no thread to spare (a process limit): serve it here
      Handle(c);
      close(c);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode.empty()) return Serve();
  if (mode == "reach" && argc > 2) {
    FILE* out = std::fopen(argv[2], "w");
    std::vector<std::string> targets(argv + 3, argv + argc);
    std::vector<std::string> results = ReachAll(targets);
    for (size_t i = 0; i < targets.size(); ++i) {
      std::string line = targets[i] + " " + results[i];
      std::printf("%s\n", line.c_str());
      if (out) std::fprintf(out, "%s\n", line.c_str());
    }
    if (out) std::fclose(out);
    return 0;
  }
  if (mode == "threads" && argc > 2) {
    std::printf("threads: %d\n", StartThreads(std::atoi(argv[2])));
    return 0;
  }
  if (mode == "alloc" && argc > 2) {
    Touch(static_cast<size_t>(std::atoi(argv[2])));
    std::printf("allocated %s\n", argv[2]);
    return 0;
  }
  if (mode == "sleep" && argc > 2) {
    sleep(static_cast<unsigned>(std::atoi(argv[2])));
    return 0;
  }
  if (mode == "print" && argc > 2) {
    std::fputs(argv[2], stdout);
    std::fputs("\n", stdout);
    return 0;
  }
  std::fprintf(stderr, "usage: tenant-probe [reach FILE H:P... | threads N | alloc MB | sleep S [TAG] | print TEXT]\n");
  return 2;
}
