// Build-context checks: a context tarball comes from the network and is hostile until proven
// otherwise. bimd checks every entry before handing the tar to Docker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/context_manifest.h"
#include "core/context_tree.h"
#include "core/status.h"

namespace bim {

struct ContextLimits {
  int64_t max_entries = 100000;
  int64_t max_unpacked_bytes = int64_t{4} << 30;
};

// One entry of a build context as the checks see it, whether it came in a tar or a manifest.
struct ContextEntryMeta {
  enum Kind { kFile, kDir, kSymlink, kHardlink, kOther };
  std::string name;  // as sent (a leading "./" and trailing '/' are ignored)
  Kind kind = kFile;
  int64_t size = 0;  // as claimed; negative counts as 0
  std::string link;  // a symlink's or hardlink's target
};

// The rules every build context entry must pass, in one place for both upload formats: a regular
// file, directory or symlink (or a tar hardlink) with a relative path free of "..", NUL and control
// characters, links that stay inside the context, and the limits. Feed entries in order with Add; the
// first failure is final. Not thread-safe (one checker per context).
class ContextChecker {
 public:
  ContextChecker(const ContextLimits& limits, std::string dockerfile);
  // OK, or InvalidArgument naming the offending entry, or TooLarge for a limit.
  Status Add(const ContextEntryMeta& entry);
  // Whole-context rules after the last entry: the Dockerfile is there (InvalidArgument otherwise;
  // no check when `dockerfile` is "").
  Status Finish();

 private:
  ContextLimits limits_;
  std::string dockerfile_;
  int64_t entries_ = 0;
  int64_t bytes_ = 0;
  bool saw_dockerfile_ = false;
  ContextTree tree_;
};

// The same checks on a parsed manifest (core/context_manifest.h), before any content is accepted.
Status CheckManifest(const std::vector<ContextEntry>& entries, const ContextLimits& limits,
                     const std::string& dockerfile);

// Reads the tar (plain or gzip) at `path` and returns OK only if every entry is a regular file,
// directory, symlink or hardlink that keeps ContextTree's rules (no entry can resolve outside the
// context: no "..", absolute names, entries beneath symlinks, escaping symlink chains or hardlinks;
// no .env* files) and the limits hold. Otherwise InvalidArgument naming the first offending entry,
// TooLarge for a limit, or InvalidArgument for a corrupt/truncated stream. Also requires a
// Dockerfile at the top level named `dockerfile`, unless that is "" (a Compose app, whose services
// name their own).
Status CheckBuildContext(const std::string& path, const ContextLimits& limits, const std::string& dockerfile);
// The same checks on a tar held in memory (used by the fuzzer and tests).
Status CheckBuildContext(const void* data, size_t size, const ContextLimits& limits, const std::string& dockerfile);

// True if `rel` is a relative path whose normalised form stays inside its root (no leading '/',
// no component ".." that climbs above the root). Resolves `rel` against `base_dir` (a directory
// inside the root, "" for the root). For paths inside image archives; contexts use ContextTree.
bool StaysInside(const std::string& base_dir, const std::string& rel);

// Reads the regular file `name` (e.g. "Dockerfile") of the context tar at `path` into *out. NotFound
// if the tar has no such file, TooLarge if it is longer than `max_bytes`, InvalidArgument for a tar
// that does not read.
Status ReadContextFile(const std::string& path, const std::string& name, size_t max_bytes, std::string* out);

}  // namespace bim
