// Sending a build context by content (core/context_manifest.h describes the protocol).
//
// `bim deploy` scans and hashes the app folder, sends bimd its manifest (or, when this machine sent one
// for the same server and app before, only the delta against it), learns which file contents bimd
// lacks, and packs just those. Unchanged files cost nothing but a manifest line; an unchanged folder
// costs a delta of one line.
//
// Local caches (under $XDG_CACHE_HOME/bim, else ~/.cache/bim; mode 0700, files 0600; losing them only
// costs speed): the last manifest sent per server and app (the base of the next delta), and per folder
// the hashes of files keyed by inode, size, mtime and ctime, so an unchanged 50 MB folder is not hashed
// again.
//
// Thread-compatible: no shared state besides the cache files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/context_pack.h"
#include "core/context_manifest.h"
#include "core/status.h"

namespace bim {

// What bimd answered for a folder's manifest.
struct ContextUploadPlan {
  std::string root;                    // the folder
  std::vector<ContextEntry> entries;   // its manifest, sorted
  std::string manifest_id;             // bimd's id of it (SHA-256 of the manifest text)
  std::vector<std::string> missing;    // content hashes bimd lacks, each once
  int64_t missing_bytes = 0;           // their sizes
  int64_t present_bytes = 0;           // file bytes bimd already holds
  int64_t files = 0;
  int64_t manifest_bytes_sent = 0;     // size of the manifest or delta text sent
  bool sent_delta = false;
  PackStats stats;                     // what scanning found (warnings, file count, bytes)
};

// Scans and hashes DIR (ScanContext's rules), and asks bimd (POST /v1/apps/APP/contexts) which contents
// it lacks, sending a delta when a cached base exists and the whole manifest otherwise (or when bimd no
// longer has the base). InvalidArgument for a folder that cannot be deployed; bimd's Status otherwise.
// `require_dockerfile` is false for a Compose app (its services name their own Dockerfiles).
Status PlanContextUpload(const ApiClient& client, const std::string& app, const std::string& dir,
                         ContextUploadPlan* out, bool require_dockerfile = true);

// Writes the missing contents as a gzip tar at `tar_path`, each file named by its SHA-256; sets
// *packed_bytes to the tar's size. FailedPrecondition if a file changed since it was hashed.
Status PackMissingContents(const ContextUploadPlan& plan, const std::string& tar_path, int64_t* packed_bytes);

}  // namespace bim
