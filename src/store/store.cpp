// Store: the public operations. SQL is constant text; every value goes through a bound parameter.
#include "store/store.h"

#include <fmt/format.h>
#include <sodium.h>
#include <sqlite3.h>

#include "base/file_util.h"
#include "store/store_internal.h"

namespace bim {

using store_internal::Exec;
using store_internal::ReleaseExists;
using store_internal::Stmt;
using store_internal::Txn;

namespace {

#define APP_COLUMNS                                                                               \
  "name, port, health_path, health_timeout_ms, live_version, created_at_ms, updated_at_ms, memory_bytes, " \
  "nano_cpus, pids, build_timeout_ms, replicas, placement, watch_ms"
#define RELEASE_COLUMNS                                                                                 \
  "id, app, version, status, kind, image_tag, image_id, container_id, container_name, host_port, "    \
  "git_commit, env_digest, failure_reason, created_at_ms, finished_at_ms, build_ms, health_ms, total_ms, "     \
  "context_digest, replicas, engine_image, git_dirty, source_digest, log_tail"
#define AUDIT_COLUMNS "id, at_ms, actor, action, app, result, detail"

// Placement constraints are stored one per line (validated constraints hold no newline).
std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    if (nl > start) out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

void ReadApp(const Stmt& q, App* a) {
  a->name = q.Text(0);
  a->port = static_cast<int>(q.Int(1));
  a->health_path = q.Text(2);
  a->health_timeout_ms = q.Int(3);
  a->live_version = q.Int(4);
  a->created_at_ms = q.Int(5);
  a->updated_at_ms = q.Int(6);
  a->resources = {q.Int(7), q.Int(8), q.Int(9)};
  a->build_timeout_ms = q.Int(10);
  a->replicas = static_cast<int>(q.Int(11));
  a->placement = SplitLines(q.Text(12));
  a->watch_ms = q.Int(13);
}

void ReadRelease(const Stmt& q, Release* r) {
  r->id = q.Int(0);
  r->app = q.Text(1);
  r->version = q.Int(2);
  r->status = q.Text(3);
  r->kind = q.Text(4);
  r->image_tag = q.Text(5);
  r->image_id = q.Text(6);
  r->container_id = q.Text(7);
  r->container_name = q.Text(8);
  r->host_port = static_cast<int>(q.Int(9));
  r->git_commit = q.Text(10);
  r->env_digest = q.Text(11);
  r->failure_reason = q.Text(12);
  r->created_at_ms = q.Int(13);
  r->finished_at_ms = q.Int(14);
  r->build_ms = q.Int(15);
  r->health_ms = q.Int(16);
  r->total_ms = q.Int(17);
  r->context_digest = q.Text(18);
  r->replicas = static_cast<int>(q.Int(19));
  r->engine_image = q.Text(20);
  r->git_dirty = q.Int(21) != 0;
  r->source_digest = q.Text(22);
  r->log_tail = q.Text(23);
}

void ReadAudit(const Stmt& q, AuditEntry* e) {
  e->id = q.Int(0);
  e->at_ms = q.Int(1);
  e->actor = q.Text(2);
  e->action = q.Text(3);
  e->app = q.Text(4);
  e->result = q.Text(5);
  e->detail = q.Text(6);
}

Status NoApp(const std::string& name) { return Status::NotFound(fmt::format("no app \"{}\"", name)); }

Status AppExists(sqlite3* db, const std::string& name) {
  Stmt q(db, "SELECT 1 FROM apps WHERE name = ?1");
  q.Bind(1, name);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  return row ? Status::OK() : NoApp(name);
}

// Releases are read by (app, version); a miss says whether the app or only the version is unknown.
Status FindRelease(sqlite3* db, const std::string& app, int64_t version, Release* out) {
  Stmt q(db, "SELECT " RELEASE_COLUMNS " FROM releases WHERE app = ?1 AND version = ?2");
  q.Bind(1, app).Bind(2, version);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (row) {
    ReadRelease(q, out);
    return Status::OK();
  }
  if (Status s = AppExists(db, app); !s.ok()) return s;
  return Status::NotFound(fmt::format("app \"{}\" has no release v{}", app, version));
}

Status CollectReleases(Stmt* q, std::vector<Release>* out) {
  out->clear();
  bool row;
  Status s;
  while ((s = q->Step(&row)).ok() && row) ReadRelease(*q, &out->emplace_back());
  if (!s.ok()) out->clear();
  return s;
}

}  // namespace

Status store_internal::ReleaseExists(sqlite3* db, int64_t id) {
  Stmt q(db, "SELECT 1 FROM releases WHERE id = ?1");
  q.Bind(1, id);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  return row ? Status::OK() : Status::NotFound(fmt::format("no release with id {}", id));
}

Store::Store(sqlite3* db, std::string key) : db_(db), key_(std::move(key)) {
  // The env digest's key is derived from the secret key, so it needs no file of its own and differs
  // from the key that encrypts the values.
  digest_key_.assign(crypto_auth_hmacsha256_KEYBYTES, '\0');
  crypto_kdf_derive_from_key(reinterpret_cast<unsigned char*>(digest_key_.data()), digest_key_.size(), 1, "bimenvdg",
                             reinterpret_cast<const unsigned char*>(key_.data()));
}

Store::~Store() {
  sqlite3_close_v2(db_);
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(digest_key_.data(), digest_key_.size());
}

std::string Store::DigestEnv(const EnvList& env) const { return EnvDigest(env, digest_key_); }

Status Store::Open(const std::string& path, const std::string& secret_key, std::unique_ptr<Store>* out) {
  if (secret_key.size() != crypto_secretbox_KEYBYTES)
    return Status::InvalidArgument(fmt::format("secret key must be {} bytes, got {}", crypto_secretbox_KEYBYTES,
                                               secret_key.size()));
  if (sodium_init() < 0) return Status::Internal("cannot initialise libsodium");

  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  // Owning the handle first means every failure below closes it.
  std::unique_ptr<Store> store(new Store(db, secret_key));
  if (rc != SQLITE_OK) return store_internal::SqliteError(db, nullptr).Wrap("opening " + path);

  // WAL: readers never block the writer. synchronous=NORMAL is still durable against a bimd crash
  // (only a power loss may drop the last commits). Foreign keys are off by default per connection and
  // the cascades on DeleteApp depend on them.
  const char* const kPragmas =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
      "PRAGMA busy_timeout = 5000;";
  Status s = Exec(db, kPragmas);
  if (s.ok()) s = store->Migrate();
  if (!s.ok()) return s.Wrap("opening " + path);
  *out = std::move(store);
  return Status::OK();
}

Status Store::GetMeta(const std::string& key, std::string* value) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "SELECT value FROM meta WHERE key = ?1");
  q.Bind(1, key);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return Status::NotFound(fmt::format("no meta key \"{}\"", key));
  *value = q.Text(0);
  return Status::OK();
}

Status Store::SetMeta(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  q.Bind(1, key).Bind(2, value);
  return q.Run();
}

Status Store::PutApp(const App& app) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_,
         "INSERT INTO apps(name, port, health_path, health_timeout_ms, created_at_ms, updated_at_ms, memory_bytes, "
         "nano_cpus, pids, build_timeout_ms, replicas, placement, watch_ms) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT(name) DO UPDATE SET port = excluded.port, "
         "health_path = excluded.health_path, health_timeout_ms = excluded.health_timeout_ms, "
         "updated_at_ms = excluded.updated_at_ms, memory_bytes = excluded.memory_bytes, "
         "nano_cpus = excluded.nano_cpus, pids = excluded.pids, build_timeout_ms = excluded.build_timeout_ms, "
         "replicas = excluded.replicas, placement = excluded.placement, watch_ms = excluded.watch_ms");
  q.Bind(1, app.name).Bind(2, app.port).Bind(3, app.health_path).Bind(4, app.health_timeout_ms).Bind(5, NowMillis());
  q.Bind(6, app.resources.memory_bytes).Bind(7, app.resources.nano_cpus).Bind(8, app.resources.pids);
  q.Bind(9, app.build_timeout_ms).Bind(10, app.replicas).Bind(11, JoinLines(app.placement));
  q.Bind(12, app.watch_ms);
  return q.Run();
}

Status Store::GetApp(const std::string& name, App* out) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "SELECT " APP_COLUMNS " FROM apps WHERE name = ?1");
  q.Bind(1, name);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return NoApp(name);
  ReadApp(q, out);
  return Status::OK();
}

Status Store::ListApps(std::vector<App>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  Stmt q(db_, "SELECT " APP_COLUMNS " FROM apps ORDER BY name");
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) ReadApp(q, &out->emplace_back());
  if (!s.ok()) out->clear();
  return s;
}

Status Store::ListAppSummaries(std::vector<AppSummary>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  // The newest release per app through the (app, version) index: one lookup per app.
  Stmt q(db_,
         "SELECT a.name, a.port, a.health_path, a.health_timeout_ms, a.live_version, a.created_at_ms, "
         "a.updated_at_ms, r.version, r.status, r.created_at_ms FROM apps a LEFT JOIN releases r ON r.id = "
         "(SELECT id FROM releases WHERE app = a.name ORDER BY version DESC LIMIT 1) ORDER BY a.name");
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) {
    AppSummary& summary = out->emplace_back();
    ReadApp(q, &summary.app);
    summary.latest_version = q.Int(7);
    summary.latest_status = q.Text(8);
    summary.latest_created_at_ms = q.Int(9);
  }
  if (!s.ok()) out->clear();
  return s;
}

Status Store::DeleteApp(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  // One statement, but the cascade touches four tables: the explicit transaction makes that plain.
  Txn txn(db_);
  if (Status s = txn.Begin(); !s.ok()) return s;
  Stmt q(db_, "DELETE FROM apps WHERE name = ?1");
  q.Bind(1, name);
  if (Status s = q.Run(); !s.ok()) return s;
  if (sqlite3_changes(db_) == 0) return NoApp(name);
  // Tokens limited to this app die with it: an app later created under the same name (by someone
  // else) must not be reachable with them.
  Stmt revoke(db_, "UPDATE tokens SET revoked_at_ms = ?2 WHERE app_scope = ?1 AND revoked_at_ms = 0");
  revoke.Bind(1, name).Bind(2, static_cast<int64_t>(NowMillis()));
  if (Status s = revoke.Run(); !s.ok()) return s;
  return txn.Commit();
}

Status Store::CreateRelease(Release* r) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  int64_t version;
  {
    Stmt bump(db_, "UPDATE apps SET next_version = next_version + 1 WHERE name = ?1 RETURNING next_version - 1");
    bump.Bind(1, r->app);
    bool row;
    if (!(s = bump.Step(&row)).ok()) return s;
    if (!row) return NoApp(r->app);
    version = bump.Int(0);
    if (!(s = bump.Run()).ok()) return s;  // finish the UPDATE before the next statement
  }
  if (r->status.empty()) r->status = release_status::kBuilding;
  int64_t now = NowMillis();
  Stmt q(db_,
         "INSERT INTO releases(app, version, status, kind, image_tag, image_id, container_id, container_name, "
         "host_port, git_commit, env_digest, failure_reason, created_at_ms, finished_at_ms, build_ms, health_ms, "
         "total_ms, context_digest, replicas, engine_image, git_dirty, source_digest, log_tail) VALUES(?1, ?2, ?3, ?4, ?5, "
         "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)");
  q.Bind(1, r->app).Bind(2, version).Bind(3, r->status).Bind(4, r->kind).Bind(5, r->image_tag);
  q.Bind(6, r->image_id).Bind(7, r->container_id).Bind(8, r->container_name).Bind(9, r->host_port);
  q.Bind(10, r->git_commit).Bind(11, r->env_digest).Bind(12, r->failure_reason).Bind(13, now);
  q.Bind(14, r->finished_at_ms).Bind(15, r->build_ms).Bind(16, r->health_ms).Bind(17, r->total_ms);
  q.Bind(18, r->context_digest).Bind(19, r->replicas).Bind(20, r->engine_image);
  q.Bind(21, int64_t{r->git_dirty}).Bind(22, r->source_digest).Bind(23, r->log_tail);
  if (!(s = q.Run()).ok()) return s;
  int64_t id = sqlite3_last_insert_rowid(db_);
  if (!(s = txn.Commit()).ok()) return s;
  r->id = id;
  r->version = version;
  r->created_at_ms = now;
  return Status::OK();
}

Status Store::UpdateRelease(const Release& r) {
  std::lock_guard<std::mutex> l(mu_);
  // app, version and created_at_ms identify the release and never change.
  Stmt q(db_,
         "UPDATE releases SET status = ?2, kind = ?3, image_tag = ?4, image_id = ?5, container_id = ?6, "
         "container_name = ?7, host_port = ?8, git_commit = ?9, env_digest = ?10, failure_reason = ?11, "
         "finished_at_ms = ?12, build_ms = ?13, health_ms = ?14, total_ms = ?15, context_digest = ?16, "
         "replicas = ?17, engine_image = ?18, git_dirty = ?19, source_digest = ?20, log_tail = ?21 WHERE id = ?1");
  q.Bind(1, r.id).Bind(2, r.status).Bind(3, r.kind).Bind(4, r.image_tag).Bind(5, r.image_id);
  q.Bind(6, r.container_id).Bind(7, r.container_name).Bind(8, r.host_port).Bind(9, r.git_commit);
  q.Bind(10, r.env_digest).Bind(11, r.failure_reason).Bind(12, r.finished_at_ms).Bind(13, r.build_ms);
  q.Bind(14, r.health_ms).Bind(15, r.total_ms).Bind(16, r.context_digest).Bind(17, r.replicas).Bind(18, r.engine_image);
  q.Bind(19, int64_t{r.git_dirty}).Bind(20, r.source_digest).Bind(21, r.log_tail);
  if (Status s = q.Run(); !s.ok()) return s;
  if (sqlite3_changes(db_) == 0) return Status::NotFound(fmt::format("no release with id {}", r.id));
  return Status::OK();
}

Status Store::GetRelease(const std::string& app, int64_t version, Release* out) {
  std::lock_guard<std::mutex> l(mu_);
  return FindRelease(db_, app, version, out);
}

Status Store::ListReleases(const std::string& app, int limit, std::vector<Release>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  if (Status s = AppExists(db_, app); !s.ok()) return s;
  Stmt q(db_, "SELECT " RELEASE_COLUMNS " FROM releases WHERE app = ?1 ORDER BY version DESC LIMIT ?2");
  q.Bind(1, app).Bind(2, limit > 0 ? limit : -1);  // a negative LIMIT means no limit
  return CollectReleases(&q, out);
}

Status Store::ListReleasesWithStatus(const std::vector<std::string>& statuses, std::vector<Release>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  if (statuses.empty()) return Status::OK();
  // Only placeholders are generated here; the statuses themselves are bound.
  std::string sql = "SELECT " RELEASE_COLUMNS " FROM releases WHERE status IN (?";
  for (size_t i = 1; i < statuses.size(); ++i) sql += ", ?";
  sql += ") ORDER BY id";
  Stmt q(db_, sql.c_str());
  for (size_t i = 0; i < statuses.size(); ++i) q.Bind(static_cast<int>(i + 1), statuses[i]);
  return CollectReleases(&q, out);
}

Status Store::ActivateRelease(const std::string& app, int64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  if (!(s = store_internal::ActivateInTxn(db_, app, version)).ok()) return s;
  return txn.Commit();
}

Status store_internal::ActivateInTxn(sqlite3* db, const std::string& app, int64_t version) {
  Release target;
  Status s = FindRelease(db, app, version, &target);
  if (!s.ok()) return s;
  {
    Stmt retire(db, "UPDATE releases SET status = ?3 WHERE app = ?1 AND status = ?2 AND version <> ?4");
    retire.Bind(1, app).Bind(2, release_status::kLive).Bind(3, release_status::kRetired).Bind(4, version);
    if (!(s = retire.Run()).ok()) return s;
  }
  {
    Stmt live(db, "UPDATE releases SET status = ?2 WHERE id = ?1");
    live.Bind(1, target.id).Bind(2, release_status::kLive);
    if (!(s = live.Run()).ok()) return s;
  }
  Stmt point(db, "UPDATE apps SET live_version = ?2, updated_at_ms = ?3 WHERE name = ?1");
  point.Bind(1, app).Bind(2, version).Bind(3, NowMillis());
  return point.Run();
}

Status Store::SaveReleaseEnv(int64_t release_id, const EnvList& env) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  if (!(s = ReleaseExists(db_, release_id)).ok()) return s;
  {
    Stmt del(db_, "DELETE FROM release_env WHERE release_id = ?1");
    del.Bind(1, release_id);
    if (!(s = del.Run()).ok()) return s;
  }
  // A repeated key replaces the earlier value in place, as in a .env file.
  Stmt ins(db_,
           "INSERT INTO release_env(release_id, key, nonce, ciphertext, ord) VALUES(?1, ?2, ?3, ?4, ?5) "
           "ON CONFLICT(release_id, key) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext");
  ins.Bind(1, release_id);
  if (!(s = store_internal::InsertEnv(&ins, key_, env)).ok()) return s;
  return txn.Commit();
}

Status Store::LoadReleaseEnv(int64_t release_id, EnvList* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  if (Status s = ReleaseExists(db_, release_id); !s.ok()) return s;
  Stmt q(db_, "SELECT key, nonce, ciphertext FROM release_env WHERE release_id = ?1 ORDER BY ord");
  q.Bind(1, release_id);
  return store_internal::ReadEnv(&q, key_, out);
}

Status Store::SetAppEnv(const std::string& app, const EnvList& env) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  if (!(s = AppExists(db_, app)).ok()) return s;
  {
    Stmt del(db_, "DELETE FROM app_env WHERE app = ?1");
    del.Bind(1, app);
    if (!(s = del.Run()).ok()) return s;
  }
  Stmt ins(db_,
           "INSERT INTO app_env(app, key, nonce, ciphertext, ord) VALUES(?1, ?2, ?3, ?4, ?5) "
           "ON CONFLICT(app, key) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext");
  ins.Bind(1, app);
  if (!(s = store_internal::InsertEnv(&ins, key_, env)).ok()) return s;
  return txn.Commit();
}

Status Store::GetAppEnv(const std::string& app, EnvList* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  if (Status s = AppExists(db_, app); !s.ok()) return s;
  Stmt q(db_, "SELECT key, nonce, ciphertext FROM app_env WHERE app = ?1 ORDER BY ord");
  q.Bind(1, app);
  return store_internal::ReadEnv(&q, key_, out);
}

Status Store::AppendAudit(AuditEntry* e) {
  std::lock_guard<std::mutex> l(mu_);
  if (e->at_ms == 0) e->at_ms = NowMillis();
  Stmt q(db_,
         "INSERT INTO audit(at_ms, actor, action, app, result, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  q.Bind(1, e->at_ms).Bind(2, e->actor).Bind(3, e->action).Bind(4, e->app).Bind(5, e->result).Bind(6, e->detail);
  if (Status s = q.Run(); !s.ok()) return s;
  e->id = sqlite3_last_insert_rowid(db_);
  return Status::OK();
}

Status Store::ListAudit(const std::string& app, int limit, std::vector<AuditEntry>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  // id order is insertion order, which wall-clock at_ms is not guaranteed to be.
  Stmt q(db_, "SELECT " AUDIT_COLUMNS " FROM audit WHERE ?1 = '' OR app = ?1 ORDER BY id DESC LIMIT ?2");
  q.Bind(1, app).Bind(2, limit > 0 ? limit : -1);
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) ReadAudit(q, &out->emplace_back());
  if (!s.ok()) out->clear();
  return s;
}

}  // namespace bim
