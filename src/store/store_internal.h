// Helpers shared by the store's .cpp files: RAII wrappers over the SQLite C API and env encryption.
// Not part of the public interface; callers hold Store::mu_, so none of this locks.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "core/dotenv.h"
#include "core/status.h"

namespace bim {
namespace store_internal {

// Internal("database: <SQLite's message>"), optionally prefixed with what we were doing.
Status SqliteError(sqlite3* db, const char* what = nullptr);

// Runs constant SQL (pragmas, BEGIN, schema scripts). Never use it with values: bind them via Stmt.
Status Exec(sqlite3* db, const char* sql);

// One prepared statement. A prepare or bind failure is remembered and returned by the next Step, so
// call sites read as straight-line code: Stmt s(db, sql); s.Bind(1, x); Status st = s.Run();
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Parameters are 1-based. Text and blobs are copied (SQLITE_TRANSIENT), so temporaries are fine.
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& BindBlob(int i, const std::string& v);

  // Advances: *row is true when a result row is available, false when the statement is done.
  Status Step(bool* row);
  // Steps to completion, ignoring any rows (INSERT/UPDATE/DELETE).
  Status Run();
  // Makes the statement runnable again; bindings are kept so a loop can rebind only what changes.
  void Reset();

  // Result columns, 0-based. NULL reads as 0 / "". Text() also reads blobs, embedded NULs included.
  int64_t Int(int col) const;
  std::string Text(int col) const;

 private:
  void Check(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status error_;  // first prepare/bind failure
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless Commit succeeded. IMMEDIATE takes
// the write lock up front, so a read-then-write transaction cannot fail half way with SQLITE_BUSY.
// Declare it before the statements it covers so they are finalized first.
class Txn {
 public:
  explicit Txn(sqlite3* db) : db_(db) {}
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  Status Begin();
  Status Commit();

 private:
  sqlite3* db_;
  bool open_ = false;
};

// OK if a release with this id exists, NotFound otherwise.
Status ReleaseExists(sqlite3* db, int64_t id);
// Store::ActivateRelease's work inside the caller's transaction: the app's live release becomes
// retired, release `version` becomes live, apps.live_version = version. NotFound for no such release.
Status ActivateInTxn(sqlite3* db, const std::string& app, int64_t version);

// Encrypts one env value with crypto_secretbox under `key` with a fresh random nonce.
void SealValue(const std::string& key, const std::string& value, std::string* nonce, std::string* ciphertext);
// Decrypts; Internal (naming no value) if the key is wrong or the row was tampered with.
Status OpenValue(const std::string& key, const std::string& nonce, const std::string& ciphertext,
                 std::string* value);

// Writes `env` through `insert`, an INSERT whose ?1 (the owner) the caller has bound and whose ?2..?5
// are key, nonce, ciphertext, ord. ord keeps the caller's order.
Status InsertEnv(Stmt* insert, const std::string& secret_key, const EnvList& env);
// Reads (key, nonce, ciphertext) rows, already ordered by ord, into *out.
Status ReadEnv(Stmt* select, const std::string& secret_key, EnvList* out);

}  // namespace store_internal
}  // namespace bim
