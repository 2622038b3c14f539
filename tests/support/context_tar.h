// Test helper: writes a Docker build context (or any small tar) from in-memory files, so tests can
// build images without touching the source tree.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace bim::testing {

// Writes an uncompressed (pax) tar at `tar_path` holding `files` as (name in tar, contents) pairs, each a
// regular file with mode 0755 (so binaries stay executable). Names may contain '/'; no directory
// entries are written (Docker does not need them). Returns false and sets *error on failure.
bool WriteContextTar(const std::string& tar_path,
                     const std::vector<std::pair<std::string, std::string>>& files, std::string* error);

// The build context tests use to make a FROM-scratch image of the demo app: a Dockerfile plus the
// static hello-server binary from the build dir. Returns false and sets *error if the binary is
// missing (build it: make hello-server).
bool WriteHelloContextTar(const std::string& tar_path, std::string* error);

// One entry of a crafted tar, written exactly as given (hostile names and link targets included).
struct TarEntry {
  enum Kind { kFile, kDir, kSymlink, kHardlink, kCharDevice, kFifo } kind = kFile;
  std::string name;
  std::string data;  // contents, or the link target
};

// A pax tar (gzip-compressed with `gzip`) holding `entries` in order, as bytes in memory.
std::string Tar(const std::vector<TarEntry>& entries, bool gzip = false);

}  // namespace bim::testing
