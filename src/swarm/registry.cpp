#include "swarm/registry.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "base/file_util.h"
#include "core/template.h"

extern char** environ;

namespace bim {
namespace {

constexpr const char* kTemplate = "config.yml.mustache";

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// Alive and not a zombie (a registry that died while bimd, its parent, had not yet reaped it).
bool Running(int pid) {
  if (pid <= 0) return false;
  waitpid(pid, nullptr, WNOHANG);  // reaps it if it is our child and has exited; ECHILD otherwise
  std::string stat;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/stat", &stat).ok()) return false;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::string RandomHex(size_t bytes) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  in.read(raw.data(), static_cast<std::streamsize>(bytes));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string LogTail(const std::string& path) {
  std::string text;
  ReadFile(path, &text);
  if (text.size() > 600) text = text.substr(text.size() - 600);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "(its log is empty)" : text;
}

}  // namespace

Registry::Registry(RegistryOptions options) : options_(std::move(options)) {}

Status Registry::RenderConfig(std::string* text) const {
  std::string secret;
  std::string secret_file = options_.dir + "/secret";
  if (!ReadFile(secret_file, &secret).ok() || secret.size() < 32) {
    secret = RandomHex(24);
    if (Status s = WriteFileAtomically(secret_file, secret, 0600); !s.ok()) return s;
  }
  std::string tmpl;
  std::string template_path = options_.template_dir + "/" + kTemplate;
  if (Status s = ReadFile(template_path, &tmpl); !s.ok()) return s.Wrap("reading the registry template");
  return RenderTemplate(template_path, tmpl,
                        {{"listen", options_.listen}, {"storage_dir", options_.dir + "/data"}, {"secret", secret}},
                        text);
}

int Registry::Pid() const {
  std::string text;
  if (!ReadFile(PidFile(), &text).ok()) return 0;
  int pid = std::atoi(text.c_str());
  if (!Running(pid)) return 0;
  // Guard against a recycled pid: it must be a registry serving our config.
  std::string cmdline;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/cmdline", &cmdline).ok()) return 0;
  if (cmdline.find("registry") == std::string::npos || cmdline.find(ConfigFile()) == std::string::npos) return 0;
  return pid;
}

Status Registry::Ping() const {
  CURL* curl = curl_easy_init();
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::string url = "http://" + options_.listen + "/v2/";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return Status::Unavailable("registry at " + url + ": " + curl_easy_strerror(rc));
  if (code != 200) return Status::Unavailable("registry at " + url + " answered " + std::to_string(code));
  return Status::OK();
}

Status Registry::Start() {
  Status s = MakeDirs(options_.dir + "/data", 0700);
  if (!s.ok()) return s;
  std::string config, current;
  if (!(s = RenderConfig(&config)).ok()) return s;
  int pid = Pid();
  if (pid > 0 && ReadFile(ConfigFile(), &current).ok() && current == config && Ping().ok()) return Status::OK();
  if (pid > 0 && !(s = Stop()).ok()) return s;  // another address or a broken one: replace it
  if (!(s = WriteFileAtomically(ConfigFile(), config, 0600)).ok()) return s;

  std::string log = options_.dir + "/registry.log";
  std::vector<std::string> args = {options_.binary, "serve", ConfigFile()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own session, so a Ctrl-C or SIGTERM aimed at bimd's process group leaves it serving.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t child = 0;
  int rc = posix_spawnp(&child, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Status::FailedPrecondition("cannot start " + options_.binary + ": " + std::strerror(rc) +
                                      " (install Debian's docker-registry package: scripts/setup.sh)");
  }
  if (!(s = WriteFileAtomically(PidFile(), std::to_string(child) + "\n")).ok()) return s;
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Ping().ok()) return Status::OK();
    if (!Running(child)) {
      return Status::Unavailable("the registry exited at start (listening on " + options_.listen +
                                 "): " + LogTail(log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(child, SIGKILL);
  Running(child);
  return Status::Unavailable("the registry did not answer on " + options_.listen + " within " +
                             std::to_string(options_.start_timeout.count() / 1000) + " s: " + LogTail(log));
}

Status Registry::Stop() {
  int pid = Pid();
  if (pid <= 0) return Status::OK();
  kill(pid, SIGTERM);
  for (int i = 0; i < 100 && Running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (Running(pid)) {
    kill(pid, SIGKILL);
    for (int i = 0; i < 40 && Running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (Running(pid)) return Status::Internal("the registry (pid " + std::to_string(pid) + ") did not stop");
  unlink(PidFile().c_str());
  return Status::OK();
}

}  // namespace bim
