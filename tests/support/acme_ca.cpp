#include "support/acme_ca.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/bimd_harness.h"

extern char** environ;

namespace bim::testing {

namespace fs = std::filesystem;

namespace {

bool CanBind(const std::string& ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  if (port == 0) throw std::runtime_error("no free loopback port");
  return port;
}

std::string PrivateLoopbackAddress(const std::vector<int>& ports) {
  std::random_device rd;
  std::mt19937 rng(rd());
  std::uniform_int_distribution<int> octet(1, 254);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string ip = "127." + std::to_string(octet(rng)) + "." + std::to_string(octet(rng)) + "." +
                     std::to_string(octet(rng));
    bool free = true;
    for (int p : ports) free = free && CanBind(ip, p);
    if (free) return ip;
  }
  throw std::runtime_error("no free loopback address");
}

AcmeCa::AcmeCa(std::map<std::string, std::string> hosts) : hosts_(std::move(hosts)) {
  dir_ = (fs::temp_directory_path() / ("bim-acme-" + UniqueSuffix())).string();
  fs::create_directories(dir_);
  port_ = FreeLoopbackPort();
  int http_port = FreeLoopbackPort();
  std::ofstream(dir_ + "/Caddyfile") << "{\n"
                                       "  admin off\n"
                                       "  http_port " << http_port << "\n"
                                       "  https_port " << port_ << "\n"
                                       "  skip_install_trust\n"
                                       "  storage file_system " << dir_ << "/data\n"
                                       "  pki {\n    ca local {\n      name \"bim test CA\"\n    }\n  }\n"
                                       "}\n"
                                       "https://127.0.0.1:" << port_ << " {\n"
                                       "  tls internal\n"
                                       "  acme_server {\n    ca local\n  }\n"
                                       "}\n";
  std::string hosts_text;
  {
    std::ifstream in("/etc/hosts");
    hosts_text.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (const auto& [name, ip] : hosts_) hosts_text += ip + " " + name + "\n";
  std::ofstream(dir_ + "/hosts") << hosts_text;
  try {
    Start();
  } catch (...) {  // no destructor runs for a constructor that throws: clean up here
    Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

AcmeCa::~AcmeCa() {
  Stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void AcmeCa::Start() {
  if (pid_ > 0) return;
  // unshare -m makes a private mount namespace (propagation private), where /etc/hosts is ours.
  std::string script = "mount --bind '" + hosts_file() + "' /etc/hosts && exec caddy run --config '" + dir_ +
                       "/Caddyfile' --adapter caddyfile";
  std::map<std::string, std::string> env = {{"HOME", dir_},
                                            {"XDG_DATA_HOME", dir_ + "/xdg"},
                                            {"XDG_CONFIG_HOME", dir_ + "/xdg"},
                                            {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}};
  int pid = SpawnLogged({"/usr/bin/unshare", "--mount", "sh", "-c", script}, env, dir_ + "/caddy.log");
  if (pid <= 0) throw std::runtime_error("cannot start caddy (is it installed? make setup)");
  pid_ = pid;
  for (int i = 0; i < 200; ++i) {
    CommandResult r = RunProcess({"/usr/bin/curl", "-sk", "--max-time", "2", directory()}, {}, 5);
    if (r.exit_code == 0 && r.out.find("newOrder") != std::string::npos && fs::exists(root_pem_path())) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      throw std::runtime_error("caddy exited at start: " + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string output = Log();
  Stop();
  throw std::runtime_error("the ACME CA did not answer: " + output);
}

void AcmeCa::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = 0;
}

std::string AcmeCa::directory() const { return "https://127.0.0.1:" + std::to_string(port_) + "/acme/local/directory"; }

std::string AcmeCa::root_pem_path() const { return dir_ + "/data/pki/authorities/local/root.crt"; }

std::vector<std::string> AcmeCa::WithTestHosts(const std::vector<std::string>& argv) const {
  // unshare --mount makes the namespace's propagation private: the bind never reaches the machine.
  std::vector<std::string> out = {"/usr/bin/unshare", "--mount", "sh", "-c",
                                  "mount --bind '" + hosts_file() + "' /etc/hosts && exec \"$@\"", "sh"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string AcmeCa::Log() const {
  std::ifstream in(dir_ + "/caddy.log");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace bim::testing
