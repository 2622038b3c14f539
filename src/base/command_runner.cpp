#include "base/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace bim {

namespace {

// Starts argv with stdin from /dev/null and the given file actions; on success sets *pid.
Status Spawn(const std::vector<std::string>& argv, posix_spawn_file_actions_t* actions, pid_t* pid) {
  if (argv.empty()) return Status::InvalidArgument("no command given");
  posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawnp(pid, args[0], actions, nullptr, args.data(), environ);
  if (rc != 0) return Status::Unavailable("cannot run " + argv[0] + ": " + std::strerror(rc));
  return Status::OK();
}

// Waits for the child and turns its end into a Status.
Status Wait(const std::string& program, pid_t pid) {
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::OK();
  if (WIFEXITED(wstatus))
    return Status::FailedPrecondition(program + " exited with status " + std::to_string(WEXITSTATUS(wstatus)));
  return Status::FailedPrecondition(program + " was killed by signal " + std::to_string(WTERMSIG(wstatus)));
}

}  // namespace

Status SubprocessRunner::Run(const std::vector<std::string>& argv, std::string* output) {
  output->clear();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  pid_t pid = 0;
  Status s = Spawn(argv, &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (!s.ok()) {
    close(fds[0]);
    return s;
  }
  // Read until EOF. A daemonising program (nginx) hands the pipe to its daemon child, which keeps it
  // open; nginx closes stdout/stderr once daemonised, so EOF still arrives promptly.
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      if (output->size() < 65536) output->append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(fds[0]);
  return Wait(argv[0], pid);
}

Status SubprocessRunner::RunAttached(const std::vector<std::string>& argv, bool stdout_to_stderr) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_to_stderr) posix_spawn_file_actions_adddup2(&actions, 2, 1);
  pid_t pid = 0;
  Status s = Spawn(argv, &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  if (!s.ok()) return s;
  return Wait(argv[0], pid);
}

}  // namespace bim
