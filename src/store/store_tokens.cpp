// Store: API tokens. SQL is constant text; every value goes through a bound parameter.
#include <fmt/format.h>
#include <sqlite3.h>

#include "base/file_util.h"
#include "store/store.h"
#include "store/store_internal.h"

namespace bim {

using store_internal::Stmt;

namespace {

#define TOKEN_COLUMNS "id, name, hash, app_scope, created_at_ms, revoked_at_ms, last_used_at_ms, read_secrets"

void ReadToken(const Stmt& q, ApiToken* t) {
  t->id = q.Int(0);
  t->name = q.Text(1);
  t->hash = q.Text(2);
  t->app_scope = q.Text(3);
  t->created_at_ms = q.Int(4);
  t->revoked_at_ms = q.Int(5);
  t->last_used_at_ms = q.Int(6);
  t->read_secrets = q.Int(7) != 0;
}

Status FindTokenById(sqlite3* db, int64_t id, ApiToken* out) {
  Stmt q(db, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = ?1");
  q.Bind(1, id);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return Status::NotFound(fmt::format("no token with id {} (list them with `bim token list`)", id));
  ReadToken(q, out);
  return Status::OK();
}

}  // namespace

Status Store::CreateToken(ApiToken* t) {
  std::lock_guard<std::mutex> l(mu_);
  if (t->created_at_ms == 0) t->created_at_ms = NowMillis();
  Stmt q(db_, "INSERT INTO tokens(name, hash, app_scope, created_at_ms, read_secrets) VALUES(?1, ?2, ?3, ?4, ?5)");
  q.Bind(1, t->name).Bind(2, t->hash).Bind(3, t->app_scope).Bind(4, t->created_at_ms);
  q.Bind(5, static_cast<int64_t>(t->read_secrets ? 1 : 0));
  Status s = q.Run();
  if (!s.ok()) {
    if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE) return Status::Conflict("token already exists");
    return s;
  }
  t->id = sqlite3_last_insert_rowid(db_);
  t->revoked_at_ms = 0;
  t->last_used_at_ms = 0;
  return Status::OK();
}

Status Store::ListTokens(std::vector<ApiToken>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  Stmt q(db_, "SELECT " TOKEN_COLUMNS " FROM tokens ORDER BY id");
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) ReadToken(q, &out->emplace_back());
  if (!s.ok()) out->clear();
  return s;
}

Status Store::RevokeToken(int64_t id, ApiToken* out) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "UPDATE tokens SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms = 0");
  q.Bind(1, id).Bind(2, static_cast<int64_t>(NowMillis()));
  if (Status s = q.Run(); !s.ok()) return s;
  return FindTokenById(db_, id, out);
}

Status Store::FindTokenByHash(const std::string& hash, ApiToken* out) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE hash = ?1");
  q.Bind(1, hash);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return Status::NotFound("no such token");
  ReadToken(q, out);
  return Status::OK();
}

Status Store::TouchToken(int64_t id, int64_t at_ms) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "UPDATE tokens SET last_used_at_ms = ?2 WHERE id = ?1");
  q.Bind(1, id).Bind(2, at_ms);
  return q.Run();
}

}  // namespace bim
