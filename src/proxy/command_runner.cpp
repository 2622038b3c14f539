#include "proxy/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace bim {

Status SubprocessRunner::Run(const std::vector<std::string>& argv, std::string* output) {
  output->clear();
  if (argv.empty()) return Status::InvalidArgument("no command given");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Status::Unavailable("cannot run " + argv[0] + ": " + std::strerror(rc));
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

  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::OK();
  if (WIFEXITED(wstatus))
    return Status::FailedPrecondition(argv[0] + " exited with status " + std::to_string(WEXITSTATUS(wstatus)));
  return Status::FailedPrecondition(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(wstatus)));
}

}  // namespace bim
