// DeployHistory: a git repository (written with libgit2, never the git binary) that records what is
// live, GitOps style. The repository holds one file per app, apps/<app>.json, describing its live
// release: release and kind, image tag and id, source commit, env key NAMES and the env digest, health
// settings, port, host name and URL. Env values never enter the repository (not in a file, not in a
// commit message), so it can be pushed or shared like any other repository.
//
// Every release that goes live (deploy, rollback, env change) is one commit, e.g.
//   "hello v3: deploy of 1a2b3c4 (env digest 9f3e2a1b)"   "hello v5: rollback to v2"
// and destroying an app is one commit removing its file. The working tree and index are kept in step,
// so `git log -p` or `cat apps/hello.json` in the directory show the same thing.
//
// Thread-safety: every method may be called from any thread; writes are serialised by one mutex.
// ReadLog may run in another process or thread at the same time as writes: git updates HEAD atomically
// after the objects are written, so a reader sees either the old or the new history.
// Failures of OnLive/OnDestroyed are logged to stderr and never returned: they run after the release
// is already live (or the app already gone), and a bookkeeping error must not turn a working deploy
// into a reported failure. The next change of the app rewrites its whole file, so the record heals.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dotenv.h"
#include "core/status.h"
#include "server/deployer.h"
#include "store/store.h"

struct git_repository;

namespace bim {

struct HistoryOptions {
  std::string domain = "localhost";                           // apps are <app>.<domain>
  std::function<std::string(const std::string& app)> url_for;  // public URL; "" when unset
  // Optional (not owned; must outlive the history): the app's settings (port, health) and release
  // list come from here. Without it the file has no port/health and a rollback names its image's
  // release.
  Store* store = nullptr;
};

class DeployHistory : public ReleaseObserver {
 public:
  DeployHistory();
  ~DeployHistory() override;
  DeployHistory(const DeployHistory&) = delete;
  DeployHistory& operator=(const DeployHistory&) = delete;

  // Opens the repository in `dir`, creating the directory and the repository (with an initial commit
  // holding a README) if needed. With options.store set, an app that is live but has no file yet (its
  // releases predate the history) gets one "recorded" commit, and a file of an app the store no longer
  // has (bimd stopped during its destroy) is removed in a "destroyed" commit. Errors name the
  // directory and the fix.
  Status Open(const std::string& dir, HistoryOptions options);

  // ReleaseObserver: commit the new live release / the removal of the app's file. Never fail (above).
  void OnLive(const Release& live, const EnvList& env) override;
  void OnDestroyed(const std::string& app) override;
  // Rewrites the app's file (its "domains" list) and commits "<app>: <summary>". Needs options.store;
  // an app with no live release has no file and gets no commit. Failures are logged, like OnLive.
  void OnDomainsChanged(const std::string& app, const std::string& summary) override;
  // "hello v6: automatic rollback from v7 after it exited with code 3".
  void OnAutoRollback(const Release& failed, const Release& live, const EnvList& env) override;

  // The same, returning the error instead of logging it (for tests and OnLive/OnDestroyed).
  // A change that leaves the file as it is makes no commit. `message` "" = the usual one.
  Status RecordLive(const Release& live, const EnvList& env, const std::string& message = "");
  Status RecordDestroyed(const std::string& app);

  // The commits that changed apps/<app>.json, newest first, at most `limit` (<= 0: all), as a JSON
  // array of {"sha","message","summary","time_ms","change":"live"|"destroyed","release","kind",
  // "record": the file's content at that commit (null when removed)}. OK with an empty array for an
  // app the history never saw. Only commits whose message starts with the app's name (as every
  // message bimd writes about one app does) or with "history: " (bimd's commits about many apps at
  // once) are examined, which keeps a log of a busy server fast; a hand-made commit is not listed.
  Status Log(const std::string& app, int limit, nlohmann::json* out);

  // Log on a repository opened just for this read (e.g. by an API route that has no DeployHistory).
  // FailedPrecondition if `dir` holds no history repository.
  static Status ReadLog(const std::string& dir, const std::string& app, int limit, nlohmann::json* out);

  // "apps/<app>.json".
  static std::string AppPath(const std::string& app);

 private:
  // The file content for `live` (pretty JSON, trailing newline) and its commit message.
  std::string RecordFor(const Release& live, const EnvList& env, nlohmann::ordered_json* record);
  std::string MessageFor(const Release& live, const nlohmann::ordered_json& record, const std::string& previous);
  std::string RollbackTarget(const Release& live);
  // Writes (content != nullptr) or removes apps/<app>.json and commits the result with `message`.
  // Sets *committed to whether anything changed. Requires mu_.
  Status CommitFile(const std::string& path, const std::string* content, const std::string& message,
                    bool* committed);
  // The same for several files in one commit (path, content; nullopt-like nullptr removes).
  Status CommitFiles(const std::vector<std::pair<std::string, const std::string*>>& files, const std::string& message,
                     bool* committed);
  Status ReadHeadFile(const std::string& path, std::string* content);  // NotFound if absent
  Status HeadAppNames(std::vector<std::string>* names);                 // apps with a file at HEAD
  // Commits the removal of apps/<app>.json ("<app>: destroyed (was vN)<note>"). Requires mu_.
  Status RecordDestroyedLocked(const std::string& app, const std::string& note);
  Status Backfill();

  std::mutex mu_;
  git_repository* repo_ = nullptr;
  std::string dir_;
  HistoryOptions options_;
};

}  // namespace bim
