// Store: bimd's durable state in one SQLite database (WAL mode, foreign keys on, schema migrations by
// PRAGMA user_version). Holds apps, their releases, the env each release ran with, the app's stored
// env, a small key/value meta table (instance id) and the audit log.
//
// Secrets: env values are encrypted at rest with libsodium crypto_secretbox (a fresh random nonce per
// value) under the 32-byte key given to Open; the database never holds a value in plain text.
//
// Thread-safety: a Store may be used from many threads; calls are serialised on one connection.
// Multi-row changes (CreateRelease, ActivateRelease, DeleteApp) run in one transaction, so a crash
// leaves either the old or the new state, never half of each.
// Errors: NotFound for a missing app/release, Internal with SQLite's message otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/app_config.h"
#include "core/dotenv.h"
#include "core/status.h"

struct sqlite3;

namespace bim {

struct App {
  std::string name;
  int port = 8080;                  // container port
  std::string health_path = "/";
  int64_t health_timeout_ms = 30000;
  int64_t watch_ms = -1;            // [health] watch after the switch: -1 the server's default, 0 off
  int64_t live_version = 0;         // version number of the live release, 0 when none is live
  int replicas = 1;                 // instances each release runs (bim.toml [deploy], bim scale)
  std::vector<std::string> placement;  // Swarm placement constraints, validated (core/placement.h)
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  ResourceRequest resources;        // bim.toml [resources]; 0 fields = the server's defaults
  int64_t build_timeout_ms = 0;     // bim.toml [build] timeout; 0 = the server's
};

// Release lifecycle: building -> starting -> live -> retired, or -> failed from any step before live.
namespace release_status {
inline constexpr const char* kBuilding = "building";
inline constexpr const char* kStarting = "starting";  // container started, waiting for health
inline constexpr const char* kLive = "live";
inline constexpr const char* kRetired = "retired";    // was live, replaced by a newer live release
inline constexpr const char* kFailed = "failed";
}  // namespace release_status

struct Release {
  int64_t id = 0;                   // global, assigned by CreateRelease
  std::string app;
  int64_t version = 0;              // per-app 1, 2, 3... (shown as "v3"), assigned by CreateRelease
  std::string status;               // one of release_status
  std::string kind = "deploy";      // "deploy", "rollback", "env"
  std::string image_tag;            // "bim/hello:v3"
  std::string image_id;             // "sha256:..."
  std::string container_id;
  std::string container_name;
  int host_port = 0;
  std::string git_commit;           // the source's git commit, "" outside git
  bool git_dirty = false;           // the source folder had changes git_commit does not hold
  std::string source_digest;        // "sha256:..." of the build context's content, "" if unknown
  std::string env_digest;
  // What the image was built from: ContextDigest (core/context_manifest.h) of the build context and
  // build args; "" when unknown (a whole-tar upload, a --build local image). Rollback and env releases
  // carry their source release's digest.
  std::string context_digest;
  std::string failure_reason;
  std::string log_tail;             // a failed release's last log lines ('\n'-separated), "" otherwise
  int64_t created_at_ms = 0;
  int64_t finished_at_ms = 0;
  int64_t build_ms = 0;
  int64_t health_ms = 0;
  int64_t total_ms = 0;
  int replicas = 1;                 // instances it ran with
  std::string engine_image;         // what the engine ran: the local tag, or on Swarm the registry
                                    // reference pinned by digest ("10.0.0.1:5000/bim/hello:v3@sha256:...")
};

// An app and its newest release (any status), as `bim apps` lists them.
struct AppSummary {
  App app;
  int64_t latest_version = 0;       // 0 when the app has no release
  std::string latest_status;
  int64_t latest_created_at_ms = 0;
};

// One service of a release, as recorded (store_services.cpp). See core/app_services.h.
struct ReleaseService {
  std::string service;              // "web", "worker", ...
  std::string workload;             // the engine's name of what runs it (may be an earlier release's)
  std::string image_tag;
  std::string image_id;
  std::string digest;               // ServiceDigest: equal digests need no restart
  std::string spec;                 // ServiceSpecJson, no env values
  EnvList env;                      // encrypted at rest like every env
};

// How a release's watch after the switch went (watches table, store_watch.cpp).
namespace watch_state {
inline constexpr const char* kWatching = "watching";        // in its window, the previous release on standby
inline constexpr const char* kPassed = "passed";            // healthy through the window: kept
inline constexpr const char* kRolledBack = "rolled back";   // failed: traffic went back to the standby release
inline constexpr const char* kEnded = "ended";              // a newer release of the app started: watch over
inline constexpr const char* kUnrecoverable = "failed";     // failed, but the standby was gone: kept, recorded
}  // namespace watch_state

struct Watch {
  int64_t release_id = 0;           // the watched release
  std::string app;
  int64_t version = 0;
  std::string state;                // one of watch_state
  int64_t standby_version = 0;      // the release kept ready to return to
  int64_t window_ms = 0;
  int64_t started_at_ms = 0;        // wall clock
  int64_t until_ms = 0;             // wall clock end of the window
  int64_t finished_at_ms = 0;       // when it passed, rolled back or ended; 0 while watching
  int64_t failures = 0;             // failed health checks in a row at the last check
  std::string reason;               // why it failed ("" otherwise)
  std::string evidence = "{}";      // JSON: exit code, last log lines, failing checks, timings
};

struct AuditEntry {
  int64_t id = 0;
  int64_t at_ms = 0;
  std::string actor;                // token name, never the token
  std::string action;               // "deploy", "rollback", "env.set", "destroy", "token.create", ...
  std::string app;                  // may be empty
  std::string result;               // "ok" or the failure message
  std::string detail;
};

// An API token as stored: never the token itself, only its hex SHA-256.
struct ApiToken {
  int64_t id = 0;
  std::string name;                 // shown in the audit log
  std::string hash;                 // hex SHA-256 of the token
  std::string app_scope;            // "" = every app
  int64_t created_at_ms = 0;
  int64_t revoked_at_ms = 0;        // 0 = active
  int64_t last_used_at_ms = 0;      // 0 = never
  bool read_secrets = false;        // may see env values (`bim env list --reveal`)
};

// A TLS certificate for an app's custom domains (store_domains.cpp).
namespace cert_state {
inline constexpr const char* kPending = "pending";   // wanted, not obtained yet
inline constexpr const char* kValid = "valid";       // files in place and served
inline constexpr const char* kError = "error";       // the last attempt failed; see error, next_attempt_ms
}  // namespace cert_state

struct Certificate {
  std::string app;
  std::string source;               // "acme" (obtained by bimd) or "manual" (`bim certs add`)
  std::vector<std::string> names;   // what the certificate covers
  std::string cert_path;            // PEM chain served by the proxy; "" until one exists
  std::string key_path;             // PEM key, 0600
  int64_t not_before_ms = 0;
  int64_t not_after_ms = 0;
  std::string state;                // one of cert_state
  std::string error;                // the CA's (or validation's) reason for the last failure
  int attempts = 0;                 // failed attempts in a row
  int64_t next_attempt_ms = 0;      // no new attempt before this (backoff)
  int64_t updated_at_ms = 0;
};

class Store {
 public:
  // Opens (creating if needed) the database at `path` and migrates it to the current schema.
  // `secret_key` must be 32 bytes (crypto_secretbox_KEYBYTES) and is used for env values.
  static Status Open(const std::string& path, const std::string& secret_key, std::unique_ptr<Store>* out);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Status GetMeta(const std::string& key, std::string* value);  // NotFound if unset
  Status SetMeta(const std::string& key, const std::string& value);

  // Inserts the app or updates its settings (port, health_*); never changes live_version/created_at.
  Status PutApp(const App& app);
  Status GetApp(const std::string& name, App* out);
  Status ListApps(std::vector<App>* out);  // sorted by name
  // Every app with its newest release, sorted by name, in one query (its cost does not grow per app
  // with the number of releases).
  Status ListAppSummaries(std::vector<AppSummary>* out);
  // Deletes the app with its releases, release envs and stored env, and revokes the tokens limited to
  // it, in one transaction. NotFound if absent.
  Status DeleteApp(const std::string& name);

  // Inserts `r` (its app must exist) with the next version for that app; sets r->id, r->version,
  // r->created_at_ms. The version is never reused, even after failures.
  Status CreateRelease(Release* r);
  // Writes every mutable field of `r` (found by r.id).
  Status UpdateRelease(const Release& r);
  Status GetRelease(const std::string& app, int64_t version, Release* out);
  // Newest first; limit <= 0 means all.
  Status ListReleases(const std::string& app, int limit, std::vector<Release>* out);
  // All releases (any app) in one of `statuses`, oldest first. Used by reconcile after a crash.
  Status ListReleasesWithStatus(const std::vector<std::string>& statuses, std::vector<Release>* out);
  // In one transaction: the app's current live release becomes retired, release `version` becomes
  // live, and app.live_version = version.
  Status ActivateRelease(const std::string& app, int64_t version);

  // The exact env a release ran with (so rollback can restore it). Replaces any previous rows.
  Status SaveReleaseEnv(int64_t release_id, const EnvList& env);
  Status LoadReleaseEnv(int64_t release_id, EnvList* out);
  // The app's stored env (set with `bim env set`), in insertion order.
  Status SetAppEnv(const std::string& app, const EnvList& env);
  Status GetAppEnv(const std::string& app, EnvList* out);
  // The env's digest for release records, history and the API: keyed with a key derived from the
  // secret key (EnvDigest), so a published digest cannot be used to guess values offline.
  std::string DigestEnv(const EnvList& env) const;

  // The services a release runs, in start order. Save replaces what was recorded (in one
  // transaction); Load gives an empty list for a release recorded before services were (an old
  // database). NotFound if the release does not exist.
  Status SaveReleaseServices(int64_t release_id, const std::vector<ReleaseService>& services);
  Status LoadReleaseServices(int64_t release_id, std::vector<ReleaseService>* out);

  Status AppendAudit(AuditEntry* e);  // sets e->id and e->at_ms if 0
  // Newest first; app "" means all apps; limit <= 0 means all.
  Status ListAudit(const std::string& app, int limit, std::vector<AuditEntry>* out);

  // Watches after the switch (store_watch.cpp). Inserts or replaces the release's row.
  Status PutWatch(const Watch& w);
  // The release's watch. NotFound if it was never watched.
  Status GetWatch(int64_t release_id, Watch* out);
  // Every watch in `state` (any app), oldest first. Used at start to resume watches in progress.
  Status ListWatches(const std::string& state, std::vector<Watch>* out);
  // A failed watch, in one transaction: the watched release becomes failed with `failure_reason`,
  // its watch row becomes `w`, and w.standby_version is live again (as ActivateRelease).
  Status RollBackWatched(const Watch& w, const std::string& failure_reason);

  // API tokens (store_tokens.cpp). Only hashes are stored; the token value never reaches the database.
  // Inserts a token; sets t->id and t->created_at_ms. Conflict if the hash already exists.
  Status CreateToken(ApiToken* t);
  // Every token, revoked ones included, oldest first.
  Status ListTokens(std::vector<ApiToken>* out);
  // Marks the token revoked now. NotFound for an unknown id; OK (unchanged) if already revoked.
  Status RevokeToken(int64_t id, ApiToken* out);
  // The token with this hash, revoked or not. NotFound if none.
  Status FindTokenByHash(const std::string& hash, ApiToken* out);
  // Records that the token was used at `at_ms`.
  Status TouchToken(int64_t id, int64_t at_ms);

  // Custom domains (store_domains.cpp). A name belongs to at most one app.
  // Adds `names` to `app` in one transaction: all or none. Names the app already has are kept as they
  // are. Conflict naming the owner if another app has one of them; NotFound if the app does not exist.
  Status AddDomains(const std::string& app, const std::vector<std::string>& names);
  // Removes `name` from `app`. NotFound if the app does not have it.
  Status RemoveDomain(const std::string& app, const std::string& name);
  Status ListDomains(const std::string& app, std::vector<std::string>* out);  // sorted
  // Every app that has custom domains, with its domains (sorted by app, then name).
  Status ListAllDomains(std::vector<std::pair<std::string, std::vector<std::string>>>* out);
  // The app's certificate record. NotFound if it has none.
  Status GetCertificate(const std::string& app, Certificate* out);
  Status PutCertificate(const Certificate& c);       // insert or replace; sets updated_at_ms to now
  Status DeleteCertificate(const std::string& app);  // OK if none
  // The app's bim.toml [http] as of its last successful deploy; HttpConfig's defaults if never set.
  Status GetHttpConfig(const std::string& app, HttpConfig* out);
  Status SetHttpConfig(const std::string& app, const HttpConfig& http);

 private:
  Store(sqlite3* db, std::string key);
  Status Migrate();

  std::mutex mu_;
  sqlite3* db_;
  std::string key_;
  std::string digest_key_;
};

}  // namespace bim
