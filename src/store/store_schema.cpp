// Schema migrations. PRAGMA user_version counts the migrations applied; each runs in its own
// transaction together with the version bump, so a crash never leaves a half-migrated database.
#include <fmt/format.h>

#include <iterator>

#include "store/store.h"
#include "store/store_internal.h"

namespace bim {

using store_internal::Exec;
using store_internal::Stmt;
using store_internal::Txn;

namespace {

// kMigrations[i] takes the schema from version i to i+1. Append only: never edit a shipped entry,
// databases in the field have already run it.
const char* const kMigrations[] = {
    // 1: initial schema.
    R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- next_version is a per-app counter rather than max(version)+1, so a version number is never handed
-- out twice for an app, whatever happens to its release rows.
CREATE TABLE apps(
  name              TEXT PRIMARY KEY,
  port              INTEGER NOT NULL,
  health_path       TEXT NOT NULL,
  health_timeout_ms INTEGER NOT NULL,
  live_version      INTEGER NOT NULL DEFAULT 0,
  next_version      INTEGER NOT NULL DEFAULT 1,
  created_at_ms     INTEGER NOT NULL,
  updated_at_ms     INTEGER NOT NULL
);
CREATE TABLE releases(
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  app            TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  version        INTEGER NOT NULL,
  status         TEXT NOT NULL,
  kind           TEXT NOT NULL,
  image_tag      TEXT NOT NULL DEFAULT '',
  image_id       TEXT NOT NULL DEFAULT '',
  container_id   TEXT NOT NULL DEFAULT '',
  container_name TEXT NOT NULL DEFAULT '',
  host_port      INTEGER NOT NULL DEFAULT 0,
  git_commit     TEXT NOT NULL DEFAULT '',
  env_digest     TEXT NOT NULL DEFAULT '',
  failure_reason TEXT NOT NULL DEFAULT '',
  created_at_ms  INTEGER NOT NULL,
  finished_at_ms INTEGER NOT NULL DEFAULT 0,
  build_ms       INTEGER NOT NULL DEFAULT 0,
  health_ms      INTEGER NOT NULL DEFAULT 0,
  total_ms       INTEGER NOT NULL DEFAULT 0,
  UNIQUE(app, version)
);
CREATE INDEX releases_by_status ON releases(status);
-- Values are crypto_secretbox ciphertexts; keys are plain names.
CREATE TABLE release_env(
  release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  nonce      BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  ord        INTEGER NOT NULL,
  PRIMARY KEY(release_id, key)
);
CREATE TABLE app_env(
  app        TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  nonce      BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  ord        INTEGER NOT NULL,
  PRIMARY KEY(app, key)
);
-- No foreign key on app: the audit log outlives a destroyed app.
CREATE TABLE audit(
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms  INTEGER NOT NULL,
  actor  TEXT NOT NULL,
  action TEXT NOT NULL,
  app    TEXT NOT NULL,
  result TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_by_app ON audit(app, id);
)sql",
    // 2: API tokens besides the admin token. Only a SHA-256 hash of each token is kept; revoked rows
    // stay so the audit log's token names keep meaning something.
    R"sql(
CREATE TABLE tokens(
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  name            TEXT NOT NULL,
  hash            TEXT NOT NULL UNIQUE,
  app_scope       TEXT NOT NULL DEFAULT '',
  created_at_ms   INTEGER NOT NULL,
  revoked_at_ms   INTEGER NOT NULL DEFAULT 0,
  last_used_at_ms INTEGER NOT NULL DEFAULT 0
);
)sql",
    // 3: what each release's image was built from, so a deploy of an unchanged context builds nothing.
    R"sql(
ALTER TABLE releases ADD COLUMN context_digest TEXT NOT NULL DEFAULT '';
)sql",
    // 4: tenants. An app's resource requests and build deadline from bim.toml (0 = the server's
    // defaults), kept so rollbacks and env releases run with them too; and whether a token may read
    // env values (off for every token made before).
    R"sql(
ALTER TABLE apps ADD COLUMN memory_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN nano_cpus INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN pids INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN build_timeout_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN read_secrets INTEGER NOT NULL DEFAULT 0;
)sql",
    // 5: cluster settings. Each app's replica count and Swarm placement constraints (one per line);
    // each release's replica count and the image reference the engine ran (on Swarm, the registry's
    // name pinned by digest).
    R"sql(
ALTER TABLE apps ADD COLUMN replicas INTEGER NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN placement TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN replicas INTEGER NOT NULL DEFAULT 1;
ALTER TABLE releases ADD COLUMN engine_image TEXT NOT NULL DEFAULT '';
)sql",
    // 6: honest sources. A deploy from a work tree with uncommitted changes says so (git_dirty), and
    // every deploy records a digest of the files it shipped (core SourceDigest), with or without git.
    R"sql(
ALTER TABLE releases ADD COLUMN git_dirty INTEGER NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN source_digest TEXT NOT NULL DEFAULT '';
)sql",
    // 7: custom domains (a name belongs to one app at a time) and each app's TLS certificate: where
    // it came from, what it covers, when it expires, and the state of getting or renewing it.
    R"sql(
CREATE TABLE domains(
  name        TEXT PRIMARY KEY,
  app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  added_at_ms INTEGER NOT NULL
);
CREATE INDEX domains_by_app ON domains(app, name);
CREATE TABLE certificates(
  app             TEXT PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE,
  source          TEXT NOT NULL,
  names           TEXT NOT NULL DEFAULT '',
  cert_path       TEXT NOT NULL DEFAULT '',
  key_path        TEXT NOT NULL DEFAULT '',
  not_before_ms   INTEGER NOT NULL DEFAULT 0,
  not_after_ms    INTEGER NOT NULL DEFAULT 0,
  state           TEXT NOT NULL,
  error           TEXT NOT NULL DEFAULT '',
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  updated_at_ms   INTEGER NOT NULL DEFAULT 0
);
-- bim.toml's [http] choices that shape the app's HTTPS server blocks.
CREATE TABLE app_https(
  app         TEXT PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE,
  force_https INTEGER NOT NULL DEFAULT 1,
  hsts        INTEGER NOT NULL DEFAULT 0
);
)sql",
    // 8: a failed release keeps its last log lines, for the dashboard and `bim releases --json`
    R"sql(
ALTER TABLE releases ADD COLUMN log_tail TEXT NOT NULL DEFAULT '';
)sql",
    // 9: watch after the switch (issue 13). apps.watch_ms is the app's [health] watch window (-1: the
    // server's default, 0: off); one watches row per release that was watched, with its outcome and
    // the evidence of a failure (JSON).
    R"sql(
ALTER TABLE apps ADD COLUMN watch_ms INTEGER NOT NULL DEFAULT -1;
CREATE TABLE watches(
  release_id      INTEGER PRIMARY KEY REFERENCES releases(id) ON DELETE CASCADE,
  app             TEXT NOT NULL,
  version         INTEGER NOT NULL,
  state           TEXT NOT NULL,
  standby_version INTEGER NOT NULL DEFAULT 0,
  window_ms       INTEGER NOT NULL,
  started_at_ms   INTEGER NOT NULL,
  until_ms        INTEGER NOT NULL,
  finished_at_ms  INTEGER NOT NULL DEFAULT 0,
  failures        INTEGER NOT NULL DEFAULT 0,
  reason          TEXT NOT NULL DEFAULT '',
  evidence        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX watches_by_state ON watches(state);
)sql",
    // 10: the services of each release: one row for a plain app ("web"), one per service of a Compose
    // app. `workload` is what runs it, possibly started by an earlier release and kept because its
    // digest (image, env, settings) did not change; `spec` is its settings as JSON (no env values).
    // Releases recorded before this migration have no rows; they ran the one workload in releases.
    R"sql(
CREATE TABLE release_services(
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  service    TEXT NOT NULL,
  ord        INTEGER NOT NULL,
  workload   TEXT NOT NULL,
  image_tag  TEXT NOT NULL,
  image_id   TEXT NOT NULL,
  digest     TEXT NOT NULL,
  spec       TEXT NOT NULL,
  UNIQUE(release_id, service)
);
CREATE TABLE release_service_env(
  service_id INTEGER NOT NULL REFERENCES release_services(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  nonce      BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  ord        INTEGER NOT NULL,
  PRIMARY KEY(service_id, key)
);
)sql",
};

constexpr int64_t kSchemaVersion = static_cast<int64_t>(std::size(kMigrations));

}  // namespace

Status Store::Migrate() {
  for (;;) {
    Txn txn(db_);
    Status s = txn.Begin();
    if (!s.ok()) return s;
    // Read the version inside the write transaction: another bimd process opening the same file
    // concurrently then waits instead of running the same migration twice.
    int64_t version = 0;
    {
      Stmt q(db_, "PRAGMA user_version");
      bool row;
      if (!(s = q.Step(&row)).ok()) return s;
      if (row) version = q.Int(0);
    }
    if (version == kSchemaVersion) return txn.Commit();
    if (version < 0 || version > kSchemaVersion)
      return Status::FailedPrecondition(fmt::format(
          "database schema v{} is newer than this bimd understands (v{}); upgrade bimd", version,
          kSchemaVersion));
    if (!(s = Exec(db_, kMigrations[version])).ok()) return s.Wrap(fmt::format("migration {}", version + 1));
    // PRAGMA takes no bound parameters; the number is ours, not input.
    std::string bump = fmt::format("PRAGMA user_version = {}", version + 1);
    if (!(s = Exec(db_, bump.c_str())).ok()) return s;
    if (!(s = txn.Commit()).ok()) return s;
  }
}

}  // namespace bim
