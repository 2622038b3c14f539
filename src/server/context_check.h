// Build-context checks: a context tarball comes from the network and is hostile until proven
// otherwise. bimd checks every entry before handing the tar to Docker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace bim {

struct ContextLimits {
  int64_t max_entries = 100000;
  int64_t max_unpacked_bytes = int64_t{4} << 30;
};

// Reads the tar (plain or gzip) at `path` and returns OK only if every entry is a regular file,
// directory or symlink with a relative path free of "..", NUL and control characters, every symlink
// and hardlink target stays inside the context, and the limits hold. Otherwise InvalidArgument naming
// the first offending entry, TooLarge for a limit, or InvalidArgument for a corrupt/truncated stream.
// Also requires a Dockerfile at the top level named `dockerfile`.
Status CheckBuildContext(const std::string& path, const ContextLimits& limits, const std::string& dockerfile);
// The same checks on a tar held in memory (used by the fuzzer and tests).
Status CheckBuildContext(const void* data, size_t size, const ContextLimits& limits, const std::string& dockerfile);

// True if `rel` is a relative path whose normalised form stays inside its root (no leading '/',
// no component ".." that climbs above the root). Resolves `rel` against `base_dir` (a directory
// inside the root, "" for the root).
bool StaysInside(const std::string& base_dir, const std::string& rel);

}  // namespace bim
