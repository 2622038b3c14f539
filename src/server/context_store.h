// ContextStore: the build-context contents bimd keeps per app, so that a deploy sends only the files
// the server lacks (core/context_manifest.h describes the protocol's manifest).
//
// A deploy runs in two requests: the CLI sends the folder's manifest (PlanUpload answers which contents
// are missing), then the deploy with just those contents (AddContents verifies and stores them); when
// a build is needed the Deployer has WriteContextTar write the tar Docker builds from.
//
// Layout under Options::root (<data_dir>/contexts), one directory per app, so one app can neither read
// nor learn about another app's files:
//   <app>/blobs/<2 hex>/<sha256>   file contents, each named by the SHA-256 bimd computed on receipt
//   <app>/manifests/<id>           manifest texts, named by the SHA-256 of the text
//   <app>/tmp/                     contents being received and verified; emptied by Open
// No file name comes from a request: only hashes bimd computed and the app name (a validated DNS label).
//
// Bounds: Prune (run after every release, and before a store would outgrow its cap) keeps the
// `keep_manifests` most recently used manifests of an app and the contents they name, evicting the
// oldest manifests first while the app's store is larger than `max_bytes_per_app`. A manifest or content
// used within `grace` (a deploy between its two requests) is never removed by the count rule.
//
// Thread-safety: every method may be called from any thread; calls for one app are serialised, calls
// for different apps run in parallel. Errors: InvalidArgument/TooLarge for a bad or oversized upload
// (nothing of it is kept), NotFound for an unknown manifest, Internal for a file system error.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/context_manifest.h"
#include "core/status.h"
#include "server/context_check.h"

namespace bim {

struct ContextStoreOptions {
  std::string root;                                // <data_dir>/contexts
  int keep_manifests = 6;                          // recent contexts kept per app (releases kept + the next)
  int64_t max_bytes_per_app = int64_t{2} << 30;    // cap of one app's stored contents
  std::chrono::seconds grace{600};                 // a plan's contents are safe this long
};

// What PlanUpload found: the manifest as stored, and what the server lacks of it.
struct ContextPlan {
  std::string manifest_id;                  // SHA-256 of the manifest's text
  std::vector<ContextEntry> entries;
  std::vector<std::string> missing;         // content hashes to send, each once, sorted
  int64_t missing_bytes = 0;                // their sizes
  int64_t present_bytes = 0;                // file bytes already held (counted per entry)
  int64_t files = 0;
};

// What AddContents stored.
struct ContentsAdded {
  int64_t contents = 0;
  int64_t bytes = 0;
};

class ContextStore {
 public:
  explicit ContextStore(ContextStoreOptions options);

  // Creates the root and removes what interrupted uploads left in every app's tmp/.
  Status Open();

  // Parses `text`, a whole manifest or a delta against a manifest this app stored earlier, checks every
  // entry (CheckManifest with `limits`, the same rules as a tar upload), stores the manifest and answers
  // which contents are missing. NotFound when a delta's base is not (or no longer) stored: send the
  // whole manifest. InvalidArgument for a malformed or refused manifest, TooLarge for a limit.
  // `dockerfile` is the top-level Dockerfile the context must hold ("" for a Compose app, whose
  // services name their own; the deploy checks a plain app's Dockerfile again).
  Status PlanUpload(const std::string& app, const std::string& text, const ContextLimits& limits, ContextPlan* out,
                    const std::string& dockerfile = "Dockerfile");

  // A manifest PlanUpload stored; marks it used. NotFound if the app has none with that id.
  Status LoadManifest(const std::string& app, const std::string& manifest_id, std::vector<ContextEntry>* out);

  // Reads the tar (plain or gzip) at `tar_path`, whose entries are regular files each named by the
  // SHA-256 of its content, and stores them. Every entry must be named in `wanted`, appear once and
  // hash to its name; otherwise InvalidArgument and nothing is stored. TooLarge when the app's store
  // would exceed its cap even after pruning. The tar file itself is left to the caller.
  Status AddContents(const std::string& app, const std::string& tar_path, const std::set<std::string>& wanted,
                     ContentsAdded* added);

  // The content hashes among `entries` the store lacks, each once.
  std::vector<std::string> MissingContents(const std::string& app, const std::vector<ContextEntry>& entries);

  // Writes the build context for `entries` as an uncompressed tar at `tar_path` (entries owned by
  // root, in manifest order). FailedPrecondition if a content is missing (pruned meanwhile).
  Status WriteContextTar(const std::string& app, const std::vector<ContextEntry>& entries,
                         const std::string& tar_path);

  // Applies the bounds above to one app's store.
  void Prune(const std::string& app);
  // Removes everything stored for the app (destroy).
  Status RemoveApp(const std::string& app);
  // Removes the stores of apps not in `apps` (planned, but never deployed; or destroyed while bimd was
  // down). For bimd's start, before requests are served.
  void RemoveAppsExcept(const std::set<std::string>& apps);
  // Bytes the app's store holds (contents and manifests).
  int64_t UsageBytes(const std::string& app);

 private:
  struct AppState {
    std::mutex mu;
    int64_t usage = -1;  // -1: not yet measured
  };
  std::shared_ptr<AppState> State(const std::string& app);
  std::string AppDir(const std::string& app) const { return options_.root + "/" + app; }
  std::string BlobPath(const std::string& app, const std::string& sha) const;
  Status StoreManifest(const std::string& app, const std::string& text, const std::string& id);
  Status ReadManifest(const std::string& app, const std::string& id, bool mark_used, std::vector<ContextEntry>* out);
  int64_t MeasureLocked(const std::string& app, AppState* state);
  void PruneLocked(const std::string& app, AppState* state, int64_t room_for);

  const ContextStoreOptions options_;
  std::mutex states_mu_;
  std::map<std::string, std::shared_ptr<AppState>> states_;
};

}  // namespace bim
