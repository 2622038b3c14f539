#include "proxy/nginx.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "core/template.h"

namespace bim {

namespace {

constexpr const char* kMainTemplate = "nginx.conf.mustache";
constexpr const char* kAppTemplate = "app.conf.mustache";

// nginx's output for a failed `-t` is several lines ("nginx: [emerg] ... in /x:3", "nginx:
// configuration file /x test failed"); the first [emerg]/[error] line is the one that names the fix.
std::string FirstNginxError(const std::string& output) {
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line))
    if (line.find("[emerg]") != std::string::npos || line.find("[error]") != std::string::npos) return line;
  std::string trimmed = output;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
  return trimmed.empty() ? "nginx failed without a message" : trimmed;
}

bool ProcessAlive(int pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

Nginx::Nginx(NginxOptions options, CommandRunner* runner) : options_(std::move(options)), runner_(runner) {}

std::string Nginx::RouteFile(const std::string& app) const { return options_.prefix + "/apps/" + app + ".conf"; }

std::vector<std::string> Nginx::BaseArgs() const {
  // -e sets the error log used before the config is read (Debian's default path may not be writable).
  return {options_.nginx_binary, "-p", options_.prefix + "/", "-c", options_.prefix + "/nginx.conf",
          "-e", options_.prefix + "/logs/error.log"};
}

int Nginx::MasterPid() const {
  std::string text;
  if (!ReadFile(options_.prefix + "/nginx.pid", &text).ok()) return 0;
  int pid = std::atoi(text.c_str());
  if (!ProcessAlive(pid)) return 0;
  // Guard against a recycled PID: the process must be an nginx master.
  std::string cmdline;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/cmdline", &cmdline).ok()) return 0;
  if (cmdline.find("nginx") == std::string::npos) return 0;
  return pid;
}

std::set<int> Nginx::WorkerPids(int master) const {
  std::set<int> pids;
  if (master <= 0) return pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat;
    if (!ReadFile("/proc/" + std::to_string(pid) + "/stat", &stat).ok()) continue;
    // Field 4 (ppid) follows the ")" that closes the command name.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == master && state != 'Z')
      pids.insert(pid);
  }
  closedir(d);
  return pids;
}

Status Nginx::RenderMainConfig(std::string* out) const {
  std::string tmpl;
  std::string path = options_.template_dir + "/" + kMainTemplate;
  Status s = ReadFile(path, &tmpl);
  if (!s.ok()) return s.Wrap("nginx main template");
  return RenderTemplate(path, tmpl,
                        {{"prefix", options_.prefix},
                         {"listen", options_.listen},
                         {"worker_processes", std::to_string(options_.worker_processes)},
                         {"worker_shutdown_timeout", std::to_string(options_.worker_shutdown_timeout_seconds)}},
                        out);
}

Status Nginx::RenderRoute(const Route& route, std::string* out) const {
  std::string tmpl;
  std::string path = options_.template_dir + "/" + kAppTemplate;
  Status s = ReadFile(path, &tmpl);
  if (!s.ok()) return s.Wrap("nginx app template");
  return RenderTemplate(path, tmpl,
                        {{"app", route.app},
                         {"server_name", route.server_name},
                         {"release", route.release},
                         {"listen", options_.listen},
                         {"upstream_port", std::to_string(route.upstream_port)}},
                        out);
}

Status Nginx::TestConfig() {
  std::vector<std::string> argv = BaseArgs();
  argv.push_back("-t");
  argv.push_back("-q");
  std::string output;
  Status s = runner_->Run(argv, &output);
  if (!s.ok()) {
    if (s.code() == Code::kUnavailable) return s;
    return Status::FailedPrecondition("nginx rejected the config: " + FirstNginxError(output));
  }
  return Status::OK();
}

bool Nginx::WorkersAlive(const std::set<int>& pids) {
  for (int pid : pids)
    if (ProcessAlive(pid)) return true;
  return false;
}

Status Nginx::ReloadLocked(std::set<int>* old_workers) {
  int master = MasterPid();
  if (master == 0) return Status::Unavailable("nginx is not running (bimd starts it; restart bimd)");
  std::set<int> before = WorkerPids(master);
  if (old_workers) *old_workers = before;
  if (kill(master, SIGHUP) != 0)
    return Status::Internal("cannot signal nginx master " + std::to_string(master) + ": " + std::strerror(errno));
  // The switch is complete when (1) a worker exists that was not there before — new workers only
  // start after the master applied the new config (on a config error it keeps the old ones and we
  // time out) — and (2) every old worker has stopped accepting: it has exited or retitled itself
  // "worker process is shutting down". Until (2), old workers still accept new connections and
  // would route them by the old config.
  auto deadline = std::chrono::steady_clock::now() + options_.reload_confirm_timeout;
  bool new_generation = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!new_generation) {
      for (int pid : WorkerPids(master))
        if (!before.count(pid)) new_generation = true;
    }
    if (new_generation) {
      bool old_accepting = false;
      for (int pid : before) {
        std::string cmdline;
        if (ReadFile("/proc/" + std::to_string(pid) + "/cmdline", &cmdline).ok() && !cmdline.empty() &&
            cmdline.find("shutting down") == std::string::npos && ProcessAlive(pid))
          old_accepting = true;
      }
      if (!old_accepting) return Status::OK();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Status::DeadlineExceeded("nginx did not start new workers after reload; see " + options_.prefix +
                                  "/logs/error.log");
}

Status Nginx::WriteRoutesLocked(const std::vector<Route>& routes, bool* changed) {
  std::set<std::string> wanted;
  for (const auto& route : routes) {
    std::string conf, current;
    Status s = RenderRoute(route, &conf);
    if (!s.ok()) return s;
    wanted.insert(route.app + ".conf");
    std::string path = RouteFile(route.app);
    if (ReadFile(path, &current).ok() && current == conf) continue;
    if (!(s = WriteFileAtomically(path, conf)).ok()) return s;
    *changed = true;
  }
  if (DIR* d = opendir((options_.prefix + "/apps").c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 5 && name.ends_with(".conf") && !wanted.count(name)) {
        unlink((options_.prefix + "/apps/" + name).c_str());
        *changed = true;
      }
    }
    closedir(d);
  }
  return Status::OK();
}

Status Nginx::Start(const std::vector<Route>& routes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const char* sub : {"", "/apps", "/logs", "/tmp"}) {
    Status s = MakeDirs(options_.prefix + sub, 0755);
    if (!s.ok()) return s;
  }
  RemoveTempFiles(options_.prefix);
  RemoveTempFiles(options_.prefix + "/apps");

  std::string conf, previous;
  Status s = RenderMainConfig(&conf);
  if (!s.ok()) return s;
  std::string conf_path = options_.prefix + "/nginx.conf";
  bool had_previous = ReadFile(conf_path, &previous).ok();
  bool changed = !had_previous || previous != conf;
  if (changed && !(s = WriteFileAtomically(conf_path, conf)).ok()) return s;
  // Route files are rewritten from the caller's truth (the database) before nginx reads anything, so
  // a route file a crash left half-switched never goes live.
  if (!(s = WriteRoutesLocked(routes, &changed)).ok()) return s;
  int master = MasterPid();
  // A running nginx whose config is already right is left alone: restarting bimd drops nothing.
  if (master != 0 && !changed) return Status::OK();
  s = TestConfig();
  if (!s.ok()) {
    if (had_previous) WriteFileAtomically(conf_path, previous);
    return s;
  }
  if (master != 0) return ReloadLocked();

  std::string output;
  s = runner_->Run(BaseArgs(), &output);
  if (!s.ok()) return Status::Unavailable("cannot start nginx: " + FirstNginxError(output));
  // nginx daemonises; wait for the pid file and the first workers.
  auto deadline = std::chrono::steady_clock::now() + options_.reload_confirm_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    master = MasterPid();
    if (master != 0 && !WorkerPids(master).empty()) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::Unavailable("nginx did not start; see " + options_.prefix + "/logs/error.log");
}

Status Nginx::ApplyRoute(const Route& route, std::set<int>* old_workers) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string conf;
  Status s = RenderRoute(route, &conf);
  if (!s.ok()) return s;
  std::string path = RouteFile(route.app);
  std::string previous;
  bool had_previous = ReadFile(path, &previous).ok();
  auto restore = [&] {
    if (had_previous)
      WriteFileAtomically(path, previous);
    else
      unlink(path.c_str());
  };
  s = WriteFileAtomically(path, conf);
  if (!s.ok()) return s;
  Failpoint("route-written");
  s = TestConfig();
  if (!s.ok()) {
    restore();
    return s;
  }
  s = ReloadLocked(old_workers);
  if (!s.ok()) {
    restore();
    // Best effort: make the master re-read the restored files too.
    int master = MasterPid();
    if (master) kill(master, SIGHUP);
  }
  return s;
}

Status Nginx::RemoveRoute(const std::string& app) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string path = RouteFile(app);
  if (access(path.c_str(), F_OK) != 0) return Status::OK();
  if (unlink(path.c_str()) != 0) return Status::Internal("cannot remove " + path + ": " + std::strerror(errno));
  if (MasterPid() == 0) return Status::OK();
  return ReloadLocked();
}

Status Nginx::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  int master = MasterPid();
  if (master == 0) return Status::OK();
  kill(master, SIGQUIT);
  for (int i = 0; i < 500 && ProcessAlive(master); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return Status::OK();
}

}  // namespace bim
