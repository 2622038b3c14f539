// compose-service: the worker and the database of the compose suite's test backend, one static
// binary (images are FROM scratch: no registry is reachable here, no shell, no libc in the image).
//
//   compose-service db       appends to /data/db.log: "start <version>" once per start, then
//                            "tick <n>" every TICK_MS (default 100), n continuing from the file's last
//                            tick, so the file shows whether every write is still there; writes
//                            /data/seed.bin (64 KiB) once, if missing; answers "ticks=<n>\n" to any
//                            TCP connection on port 7000.
//   compose-service worker   prints "worker <version> started", then every 300 ms asks DB_HOST
//                            (default "db", resolved through the container's DNS) on port 7000 and
//                            prints "worker <version>: db says ticks=<n>" or why it could not.
//   compose-service probe    exits 0 if the db on 127.0.0.1 answers "ticks=" (db's healthcheck), else 1.
// <version> is the first line of /version (baked into the image), else "none". FAIL_AT_START=<code>
// makes it exit with that code after 200 ms (a release that never becomes ready). SIGTERM exits 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace {

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string Version() {
  std::ifstream in("/version");
  std::string line;
  return std::getline(in, line) && !line.empty() ? line : "none";
}

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// The IPv4 address of `name`: a literal, or one A record from the nameserver in /etc/resolv.conf
// (Docker's embedded DNS on an app's network). A minimal DNS client, since a static binary has no
// NSS modules to resolve with. 0 when it cannot be resolved.
in_addr_t Resolve(const std::string& name) {
  in_addr_t literal = inet_addr(name.c_str());
  if (literal != INADDR_NONE) return literal;
  std::ifstream conf("/etc/resolv.conf");
  std::string line, server;
  while (std::getline(conf, line))
    if (line.rfind("nameserver ", 0) == 0) server = line.substr(11);
  if (server.empty()) return 0;
  unsigned char q[512] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  size_t n = 12;
  std::stringstream labels(name);
  std::string label;
  while (std::getline(labels, label, '.')) {
    if (label.empty() || label.size() > 63 || n + label.size() + 6 > sizeof q) return 0;
    q[n++] = static_cast<unsigned char>(label.size());
    std::memcpy(q + n, label.data(), label.size());
    n += label.size();
  }
  q[n++] = 0;
  q[n++] = 0, q[n++] = 1;  // type A
  q[n++] = 0, q[n++] = 1;  // class IN
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(53);
  addr.sin_addr.s_addr = inet_addr(server.c_str());
  unsigned char a[512];
  ssize_t got = -1;
  if (sendto(fd, q, n, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == static_cast<ssize_t>(n))
    got = recv(fd, a, sizeof a, 0);
  close(fd);
  if (got < 12 || (a[3] & 0x0f) != 0) return 0;
  int answers = (a[6] << 8) | a[7];
  size_t p = n;  // the question is echoed back as sent
  for (int i = 0; i < answers && p + 12 <= static_cast<size_t>(got); ++i) {
    if ((a[p] & 0xc0) == 0xc0) {
      p += 2;  // a compressed name
    } else {  // labels, then the root's zero byte (Docker's DNS answers with the name spelled out)
      while (p < static_cast<size_t>(got) && a[p] != 0) p += a[p] + 1;
      ++p;
    }
    int type = (a[p] << 8) | a[p + 1];
    int len = (a[p + 8] << 8) | a[p + 9];
    p += 10;
    if (type == 1 && len == 4 && p + 4 <= static_cast<size_t>(got)) {
      in_addr_t ip;
      std::memcpy(&ip, a + p, 4);
      return ip;
    }
    p += len;
  }
  return 0;
}

std::string AskDb(const std::string& host) {
  in_addr_t ip = Resolve(host);
  if (ip == 0) return "cannot resolve " + host;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(7000);
  addr.sin_addr.s_addr = ip;
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    answer = std::string("cannot connect: ") + std::strerror(errno);
  } else {
    char buf[128];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    answer = n > 0 ? "db says " + std::string(buf, static_cast<size_t>(n)) : "no answer";
    while (!answer.empty() && answer.back() == '\n') answer.pop_back();
  }
  close(fd);
  return answer;
}

int Worker(const std::string& version) {
  Say("worker " + version + " started");
  std::string host = Env("DB_HOST", "db");
  for (;;) {
    Say("worker " + version + ": " + AskDb(host));
    usleep(300 * 1000);
  }
}

std::atomic<long> g_ticks{0};

int Db(const std::string& version) {
  mkdir("/data", 0755);
  struct stat st;
  if (stat("/data/seed.bin", &st) != 0) {
    std::string seed(64 << 10, '\0');
    unsigned x = static_cast<unsigned>(time(nullptr)) | 1u;
    for (char& c : seed) c = static_cast<char>((x = x * 1103515245u + 12345u) >> 16);
    std::ofstream("/data/seed.bin", std::ios::binary) << seed;
  }
  {  // continue the count where the file left it
    std::ifstream in("/data/db.log");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("tick ", 0) == 0) g_ticks = std::atol(line.c_str() + 5);
  }
  int fd = open("/data/db.log", O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) {
    Say("db: cannot open /data/db.log: " + std::string(std::strerror(errno)));
    return 1;
  }
  auto append = [fd](const std::string& line) {
    std::string text = line + "\n";
    return write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  };
  append("start " + version);
  Say("db " + version + " started at tick " + std::to_string(g_ticks.load()));
  std::thread([] {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(7000);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 64) != 0) _exit(1);
    for (;;) {
      int c = accept(ls, nullptr, nullptr);
      if (c < 0) continue;
      std::string answer = "ticks=" + std::to_string(g_ticks.load()) + "\n";
      send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(c);
    }
  }).detach();
  int tick_ms = std::atoi(Env("TICK_MS", "100").c_str());
  for (;;) {
    usleep(static_cast<useconds_t>(tick_ms) * 1000);
    if (!append("tick " + std::to_string(g_ticks + 1))) {
      Say("db: write failed: " + std::string(std::strerror(errno)));
      return 1;
    }
    ++g_ticks;
  }
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  // PID 1 in a container gets no default signal handlers: exit on SIGTERM/SIGINT ourselves.
  signal(SIGTERM, [](int) { _exit(0); });
  signal(SIGINT, [](int) { _exit(0); });
  std::string mode = argc > 1 ? argv[1] : "";
  std::string version = Version();
  if (int code = std::atoi(Env("FAIL_AT_START", "0").c_str()); code > 0) {
    Say(mode + " " + version + ": failing at start as FAIL_AT_START asked");
    usleep(200 * 1000);
    return code;
  }
  if (mode == "probe") return AskDb("127.0.0.1").find("db says ticks=") == 0 ? 0 : 1;
  if (mode == "worker") return Worker(version);
  if (mode == "db") return Db(version);
  std::fprintf(stderr, "usage: compose-service db|worker\n");
  return 2;
}
