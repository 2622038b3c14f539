// Packing an app folder into the build-context tarball the CLI uploads.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

struct archive;

namespace bim {

// A gzip'd (fast level) pax tar being written to a file; frees itself (without finishing) on scope exit.
struct ArchiveWriterFree {
  void operator()(archive* a) const;
};
using ArchiveWriter = std::unique_ptr<archive, ArchiveWriterFree>;
// Opens `path` for writing such a tar. Internal naming the path and libarchive's reason on failure.
Status OpenGzipTarWriter(const std::string& path, ArchiveWriter* out);

struct PackStats {
  int64_t files = 0;
  int64_t bytes = 0;                  // uncompressed file bytes
  int64_t packed_bytes = 0;           // size of the .tar.gz
  // What PackContext packed, as core's SourceDigest (paths, types, modes, sizes, contents, link
  // targets; no mtimes or owners): the same digest `bim deploy` records for the same files when bimd
  // builds them from a manifest. Empty after ScanContext alone.
  std::string content_digest;
  std::vector<std::string> warnings;  // things left out that the user should know about
};

// One entry of an app folder that belongs in its build context.
struct ScannedEntry {
  std::string rel;  // path relative to the folder, '/'-separated
  struct stat st;   // lstat of it
};

// Lists DIR's build context: every file, directory and symlink, sorted by path, by the rules of
// PackContext below (which packs exactly this list). `root` receives DIR without trailing slashes.
// InvalidArgument when DIR has no Dockerfile (unless !require_dockerfile: a Compose app's services
// name their own) or a bad .dockerignore.
Status ScanContext(const std::string& dir, std::string* root, std::vector<ScannedEntry>* entries, PackStats* stats,
                   bool require_dockerfile = true);

// Writes DIR's build context to `tar_path` (gzip-compressed tar), honouring DIR/.dockerignore with
// Docker's semantics. Dockerfile and .dockerignore are always sent (as Docker does). `.env*` files (at
// any depth: .env, config/.env.production, .envrc) are never sent, even if .dockerignore forgets them:
// they hold secrets, and the folder's .env reaches the container as env.
// Symlinks are stored as symlinks, never followed; one whose target leaves DIR is left out with a
// warning. Sockets, fifos and devices are skipped. Entries are sorted and owned by root:root so the
// same folder packs to the same tar. InvalidArgument when DIR has no Dockerfile or a bad .dockerignore.
Status PackContext(const std::string& dir, const std::string& tar_path, PackStats* stats);

}  // namespace bim
