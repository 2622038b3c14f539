#include "proxy/nginx_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file_util.h"

extern char** environ;

namespace bim {

namespace {

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

struct ProcStat {
  char state = 0;
  int ppid = 0;
};

// /proc/<pid>/stat's state and parent. False if the process does not exist.
bool ReadProcStat(int pid, ProcStat* out) {
  std::string stat;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/stat", &stat).ok()) return false;
  // Fields 3 (state) and 4 (ppid) follow the ")" that closes the command name.
  size_t close = stat.rfind(')');
  return close != std::string::npos && std::sscanf(stat.c_str() + close + 1, " %c %d", &out->state, &out->ppid) == 2;
}

// Alive means running or sleeping: a zombie (exited, not yet reaped by its parent) serves nothing.
bool Alive(int pid) {
  ProcStat st;
  return pid > 0 && ReadProcStat(pid, &st) && st.state != 'Z' && st.state != 'X';
}

std::string Comm(int pid) {
  std::string comm;
  ReadFile("/proc/" + std::to_string(pid) + "/comm", &comm);
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

std::vector<int> AllPids() {
  std::vector<int> pids;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      int pid = std::atoi(e->d_name);
      if (pid > 0) pids.push_back(pid);
    }
    closedir(d);
  }
  return pids;
}

// Inodes of listening unix sockets bound to `path` (from /proc/net/unix).
std::set<std::string> ListeningUnixInodes(const std::string& path) {
  std::set<std::string> inodes;
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // header: Num RefCount Protocol Flags Type St Inode Path
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refs, proto, flags, type, st, inode, name;
    if (!(fields >> num >> refs >> proto >> flags >> type >> st >> inode >> name)) continue;
    // Flags 00010000 is __SO_ACCEPTCON: the socket listens.
    if (name == path && flags == "00010000") inodes.insert(inode);
  }
  return inodes;
}

bool HoldsSocket(int pid, const std::set<std::string>& inodes) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  char target[128];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    std::string link = target;  // "socket:[12345]"
    if (link.starts_with("socket:[") && inodes.count(link.substr(8, link.size() - 9))) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

// Copies the listening sockets of process `pid` into this process (CLOEXEC set). Needs ptrace rights.
Status CopyListeningSockets(int pid, std::vector<int>* fds) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return Status::Internal("pidfd_open(" + std::to_string(pid) + "): " + std::strerror(errno));
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) {
    close(pidfd);
    return Status::Internal("cannot list " + dir + ": " + std::strerror(errno));
  }
  Status result;
  char target[128];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0 || std::strncmp(target, "socket:", 7) != 0) continue;
    int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, std::atoi(e->d_name), 0));
    if (fd < 0) {
      result = Status::Internal("pidfd_getfd from nginx worker " + std::to_string(pid) + ": " + std::strerror(errno));
      break;
    }
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
      fds->push_back(fd);
    else
      close(fd);
  }
  closedir(d);
  close(pidfd);
  if (!result.ok()) {
    for (int fd : *fds) close(fd);
    fds->clear();
  }
  return result;
}

// Runs argv detached (own session, stdio on /dev/null, reparented to init at once) with `sockets`
// passed as fds 3, 4, ... and NGINX="3;4;...;" in its environment, the way nginx hands its listening
// sockets to a new binary. nginx started like this stays in the foreground, hence the detaching.
Status SpawnWithInheritedSockets(const std::vector<std::string>& argv, const std::vector<int>& sockets) {
  std::string inherited;
  std::vector<int> high;  // the sockets moved above the numbers they will get in the child
  for (size_t i = 0; i < sockets.size(); ++i) {
    inherited += std::to_string(3 + i) + ";";
    int fd = fcntl(sockets[i], F_DUPFD_CLOEXEC, 100);
    if (fd < 0) {
      for (int h : high) close(h);
      return Status::Internal(std::string("dup: ") + std::strerror(errno));
    }
    high.push_back(fd);
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "NGINX=", 6) != 0) env_strings.push_back(*e);
  env_strings.push_back("NGINX=" + inherited);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t child = fork();
  if (child < 0) {
    for (int h : high) close(h);
    return Status::Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    setsid();
    if (fork() != 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    for (size_t i = 0; i < high.size(); ++i) dup2(high[i], static_cast<int>(3 + i));  // dup2 clears CLOEXEC
    syscall(SYS_close_range, 3 + high.size(), ~0U, 0);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  int wstatus = 0;
  while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  for (int h : high) close(h);
  return Status::OK();
}

}  // namespace

NginxProcess::NginxProcess(const NginxOptions& options, CommandRunner* runner) : options_(options), runner_(runner) {}

std::vector<std::string> NginxProcess::BaseArgs() const {
  // -e sets the error log used before the config is read (Debian's default path may not be writable).
  return {options_.nginx_binary, "-p", options_.prefix + "/", "-c", options_.prefix + "/nginx.conf",
          "-e", options_.prefix + "/logs/error.log"};
}

int NginxProcess::MasterPid() const {
  std::string text;
  if (!ReadFile(options_.prefix + "/nginx.pid", &text).ok()) return 0;
  int pid = std::atoi(text.c_str());
  // Guard against a recycled PID: the process must be an nginx master, alive.
  if (!Alive(pid) || Comm(pid) != "nginx") return 0;
  return pid;
}

std::set<int> NginxProcess::Workers() const {
  std::set<int> pids;
  int master = MasterPid();
  if (master <= 0) return pids;
  for (int pid : AllPids()) {
    ProcStat st;
    if (ReadProcStat(pid, &st) && st.ppid == master && st.state != 'Z' && st.state != 'X') pids.insert(pid);
  }
  return pids;
}

std::set<int> NginxProcess::Orphans() const {
  std::set<int> orphans;
  if (MasterPid() != 0) return orphans;
  std::set<std::string> inodes = ListeningUnixInodes(ControlSocket());
  if (inodes.empty()) return orphans;
  int self = getpid();
  for (int pid : AllPids())
    if (pid != self && Alive(pid) && Comm(pid) == "nginx" && HoldsSocket(pid, inodes)) orphans.insert(pid);
  return orphans;
}

bool NginxProcess::AnyAlive(const std::set<int>& pids) {
  for (int pid : pids)
    if (Alive(pid)) return true;
  return false;
}

Status NginxProcess::TestConfig() {
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

Status NginxProcess::WaitForWorkers(int* master) {
  auto deadline = std::chrono::steady_clock::now() + options_.reload_confirm_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    *master = MasterPid();
    if (*master != 0 && !Workers().empty()) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Unavailable("nginx did not start; see " + options_.prefix + "/logs/error.log");
}

Status NginxProcess::StartFresh() {
  // A control socket file left by a master that died with no workers would make bind() fail.
  unlink(ControlSocket().c_str());
  std::string output;
  Status s = runner_->Run(BaseArgs(), &output);
  if (!s.ok()) return Status::Unavailable("cannot start nginx: " + FirstNginxError(output));
  int master = 0;
  return WaitForWorkers(&master);  // nginx daemonises; wait for the pid file and the first workers
}

Status NginxProcess::TakeOver(const std::set<int>& orphans) {
  std::vector<int> sockets;
  Status s = CopyListeningSockets(*orphans.begin(), &sockets);
  if (!s.ok()) return s.Wrap("taking over nginx's orphaned workers");
  if (sockets.empty()) return Status::Internal("nginx's orphaned worker " + std::to_string(*orphans.begin()) +
                                               " holds no listening socket");
  s = SpawnWithInheritedSockets(BaseArgs(), sockets);
  for (int fd : sockets) close(fd);
  if (!s.ok()) return s.Wrap("starting nginx on the orphans' sockets");
  int master = 0;
  if (!(s = WaitForWorkers(&master)).ok()) return s;
  // The new workers accept on the same sockets now: the orphans may finish their requests and go.
  for (int pid : orphans) kill(pid, SIGQUIT);
  std::fprintf(stderr, "bimd: nginx master had died; took over from %zu orphaned workers (new master %d)\n",
               orphans.size(), master);
  return Status::OK();
}

Status NginxProcess::EnsureRunning(bool* started) {
  *started = false;
  if (MasterPid() != 0) return Status::OK();
  *started = true;
  std::set<int> orphans = Orphans();
  if (!orphans.empty()) return TakeOver(orphans);
  return StartFresh();
}

Status NginxProcess::Reload(std::set<int>* old_workers) {
  int master = MasterPid();
  if (master == 0) return Status::Unavailable("nginx is not running (bimd starts it; restart bimd)");
  std::set<int> before = Workers();
  if (old_workers) *old_workers = before;
  if (kill(master, SIGHUP) != 0)
    return Status::Internal("cannot signal nginx master " + std::to_string(master) + ": " + std::strerror(errno));
  // The switch is complete when (1) a worker exists that was not there before — new workers only
  // start after the master applied the new config (on a config error it keeps the old ones and we
  // time out) — and (2) every old worker has stopped accepting: it has exited or retitled itself
  // "worker process is shutting down". Until (2), old workers still accept new connections and
  // would serve them by the old config.
  auto deadline = std::chrono::steady_clock::now() + options_.reload_confirm_timeout;
  bool new_generation = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!new_generation) {
      for (int pid : Workers())
        if (!before.count(pid)) new_generation = true;
    }
    if (new_generation) {
      bool old_accepting = false;
      for (int pid : before) {
        std::string cmdline;
        if (Alive(pid) && ReadFile("/proc/" + std::to_string(pid) + "/cmdline", &cmdline).ok() && !cmdline.empty() &&
            cmdline.find("shutting down") == std::string::npos)
          old_accepting = true;
      }
      if (!old_accepting) {
        ++reloads_;
        return Status::OK();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Status::DeadlineExceeded("nginx did not start new workers after reload; see " + options_.prefix +
                                  "/logs/error.log");
}

Status NginxProcess::Stop() {
  int master = MasterPid();
  if (master == 0) return Status::OK();
  kill(master, SIGQUIT);
  for (int i = 0; i < 1000 && Alive(master); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (Alive(master)) return Status::DeadlineExceeded("nginx master " + std::to_string(master) + " did not exit in 10 s");
  return Status::OK();
}

}  // namespace bim
