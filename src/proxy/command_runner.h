// CommandRunner: the one seam through which bim runs an external program (today only nginx).
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
};

class SubprocessRunner : public CommandRunner {
 public:
  Status Run(const std::vector<std::string>& argv, std::string* output) override;
};

}  // namespace bim
