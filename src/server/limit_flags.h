// bimd's flags for tenant isolation and limits (README "Security"): what each flag means and its
// default live in ServerOptions; this file only reads them from the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "server/options.h"

namespace bim {

// Raw flag values, as typed ("512m", "1.5", "15m"); empty / negative = keep ServerOptions' default.
struct LimitFlags {
  std::string memory, max_memory, build_memory, log_max_size, build_timeout;
  double cpus = -1, max_cpus = -1, build_cpus = -1;
  int64_t pids = -1, max_pids = -1, build_pids = -1;
  int log_max_files = -1;
  std::vector<std::string> block_egress;
  bool no_isolation = false;
};

// Registers the flags on `cli`, writing into *flags when parsed.
void AddLimitFlags(CLI::App& cli, LimitFlags* flags);

// Applies parsed flags to *options. InvalidArgument naming the flag for a bad size, duration, CPU
// count or CIDR, or for a default above its maximum.
Status ApplyLimitFlags(const LimitFlags& flags, ServerOptions* options);

}  // namespace bim
