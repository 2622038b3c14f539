// CommandRunner: the one seam through which bim runs an external program (nginx in bimd; Docker
// Compose for `bim up`/`bim down`).
//
// Programs are started with posix_spawn from an argv vector: no shell is ever involved, so nothing a
// user sends can be interpreted as shell syntax. Tests of code above this seam may substitute a fake;
// SubprocessRunner is the real thing and is itself tested against real programs.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace bim {

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv[0] (an absolute path or a name looked up in PATH) with argv, waits for it to exit, and
  // puts its combined stdout+stderr into *output (truncated to 64 KiB). OK if it exited 0; otherwise
  // FailedPrecondition("<program> exited with status N") or Unavailable if it could not be started.
  virtual Status Run(const std::vector<std::string>& argv, std::string* output) = 0;

  // Like Run, but the program writes straight to this process's stdout and stderr (for long commands
  // a person watches, like `docker compose up`); with `stdout_to_stderr` its stdout goes to stderr
  // too, so a --json caller's stdout carries only its own document.
  virtual Status RunAttached(const std::vector<std::string>& argv, bool stdout_to_stderr) = 0;
};

class SubprocessRunner : public CommandRunner {
 public:
  Status Run(const std::vector<std::string>& argv, std::string* output) override;
  Status RunAttached(const std::vector<std::string>& argv, bool stdout_to_stderr) override;
};

}  // namespace bim
