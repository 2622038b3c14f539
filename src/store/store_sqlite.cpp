// Thin RAII layer over the SQLite C API; see store_internal.h.
#include "store/store_internal.h"

namespace bim {
namespace store_internal {

Status SqliteError(sqlite3* db, const char* what) {
  std::string msg = "database: ";
  if (what != nullptr) msg += std::string(what) + ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  return Status::Internal(std::move(msg));
}

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::OK();
  Status s = Status::Internal(std::string("database: ") + (err != nullptr ? err : sqlite3_errmsg(db)));
  sqlite3_free(err);
  return s;
}

Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr) != SQLITE_OK) error_ = SqliteError(db_, "prepare");
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

void Stmt::Check(int rc) {
  if (rc != SQLITE_OK && error_.ok()) error_ = SqliteError(db_, "bind");
}

Stmt& Stmt::Bind(int i, int64_t v) {
  if (stmt_ != nullptr) Check(sqlite3_bind_int64(stmt_, i, v));
  return *this;
}

Stmt& Stmt::Bind(int i, const std::string& v) {
  if (stmt_ != nullptr) Check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Stmt& Stmt::BindBlob(int i, const std::string& v) {
  if (stmt_ != nullptr) Check(sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT));
  return *this;
}

Status Stmt::Step(bool* row) {
  *row = false;
  if (!error_.ok()) return error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    *row = true;
    return Status::OK();
  }
  if (rc == SQLITE_DONE) return Status::OK();
  return SqliteError(db_);
}

Status Stmt::Run() {
  bool row = true;
  Status s;
  while (row && (s = Step(&row)).ok()) {
  }
  return s;
}

void Stmt::Reset() {
  if (stmt_ != nullptr) sqlite3_reset(stmt_);
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::Text(int col) const {
  // blob() before bytes(): that order never converts the value (see sqlite3_column_blob docs).
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return "";
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

Txn::~Txn() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Txn::Begin() {
  Status s = Exec(db_, "BEGIN IMMEDIATE");
  open_ = s.ok();
  return s;
}

Status Txn::Commit() {
  Status s = Exec(db_, "COMMIT");
  // A failed COMMIT leaves the transaction open; the destructor rolls it back.
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace store_internal
}  // namespace bim
