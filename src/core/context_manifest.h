// Context manifests: a build context described by content instead of sent as a tarball.
//
// `bim deploy` lists every entry of the app folder (path, type, mode, and a file's size and SHA-256 or
// a symlink's target) and sends that list; bimd answers which file contents it lacks, the CLI sends only
// those, and bimd writes the build-context tar itself from the contents it keeps per app
// (server/context_store.h). A redeploy with one changed file sends one line of manifest and one file.
//
// The text format, one entry per line, sorted by path (bytewise), paths unique:
//
//   bim-manifest 1
//   F <mode> <mtime> <size> <sha256> <path>       a regular file
//   D <mode> <mtime> <path>                        a directory
//   L <mode> <mtime> <target> <path>               a symbolic link
//
// mode is octal permission bits, mtime seconds since the epoch, sha256 64 lower-case hex digits. path
// and target are percent-encoded: every byte <= 0x20, '%' and >= 0x7f becomes %XX, so any name fits on
// one line and the format itself never refuses a name (what a context may hold is context_check's rule).
//
// A delta names the manifest it starts from and the one it produces, and lists only what changed:
//
//   bim-manifest-delta 1 <base id> <result id>
//   - <path>                                       an entry removed
//   F|D|L ...                                      an entry added or changed (a whole entry line)
//
// A manifest's id is the SHA-256 of its text. Its *context digest* (ContextDigest) covers what the
// build sees: paths, types, modes, sizes, contents, link targets, the Dockerfile name and the build
// args, but not mtimes; equal digests build equal images, which is how a deploy with nothing changed
// is recognised.
//
// Pure logic, no I/O; every function is thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/sha256.h"
#include "core/status.h"

namespace bim {

struct ContextEntry {
  enum class Type { kFile, kDir, kSymlink };
  Type type = Type::kFile;
  std::string path;      // relative, '/'-separated, as it goes into the tar
  uint32_t mode = 0644;  // permission bits (07777)
  int64_t mtime = 0;     // seconds; carried into the tar, not part of the digest
  int64_t size = 0;      // files only
  std::string sha256;    // files only: 64 lower-case hex digits
  std::string target;    // symlinks only
  bool operator==(const ContextEntry&) const = default;
};

struct ManifestLimits {
  int64_t max_entries = 100000;
  int64_t max_total_bytes = int64_t{4} << 30;  // sum of file sizes
};

// The manifest's text (header line included). `entries` must be sorted by path and unique
// (SortEntries); the text is then canonical: the same entries always give the same text and id.
std::string FormatManifest(const std::vector<ContextEntry>& entries);

// Parses a whole manifest. InvalidArgument naming the line for a malformed line, an unsorted or
// repeated path, a bad hash, mode or size; TooLarge when `limits` are exceeded. Never reads a path.
Status ParseManifest(std::string_view text, const ManifestLimits& limits, std::vector<ContextEntry>* out);

// The delta that turns `base` (whose id is `base_id`) into `current`. Both sorted and unique.
std::string FormatManifestDelta(const std::vector<ContextEntry>& base, const std::string& base_id,
                                const std::vector<ContextEntry>& current);

// Reads a delta's header: the base and result ids. InvalidArgument if `text` is not a delta.
Status ParseDeltaHeader(std::string_view text, std::string* base_id, std::string* result_id);

// Applies a delta to `base` (already parsed). The caller checks that the result's id is the one the
// header names (a client and server disagreeing about the base must not go unnoticed).
Status ApplyManifestDelta(const std::vector<ContextEntry>& base, std::string_view delta, const ManifestLimits& limits,
                          std::vector<ContextEntry>* out);

// True if `text` starts like a delta rather than a whole manifest.
bool IsManifestDelta(std::string_view text);

// Sorts entries by path (the manifest's order).
void SortEntries(std::vector<ContextEntry>* entries);

// "sha256:<hex>" of what the build sees: entries without mtimes, the Dockerfile name, build args.
std::string ContextDigest(const std::vector<ContextEntry>& entries, const std::string& dockerfile,
                          const std::map<std::string, std::string>& build_args);

// "sha256:<hex>" of the files alone: ContextDigest without a Dockerfile name or build args. A release
// records it as its source digest, so a `-dirty` commit still names exactly what was deployed, the
// same whether bimd builds from a manifest or bim builds locally.
std::string SourceDigest(const std::vector<ContextEntry>& entries);

// Percent-encoding of a path as the manifest writes it, and its inverse (InvalidArgument for a bad
// escape).
std::string EncodeManifestPath(std::string_view raw);
Status DecodeManifestPath(std::string_view encoded, std::string* out);

}  // namespace bim
