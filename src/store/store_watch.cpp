// Store: watches after the switch (issue 13). SQL is constant text; every value goes through a bound
// parameter.
#include <fmt/format.h>
#include <sqlite3.h>

#include "base/file_util.h"
#include "store/store.h"
#include "store/store_internal.h"

namespace bim {

using store_internal::Stmt;
using store_internal::Txn;

namespace {

#define WATCH_COLUMNS                                                                                \
  "release_id, app, version, state, standby_version, window_ms, started_at_ms, until_ms, "           \
  "finished_at_ms, failures, reason, evidence"

void ReadWatch(const Stmt& q, Watch* w) {
  w->release_id = q.Int(0);
  w->app = q.Text(1);
  w->version = q.Int(2);
  w->state = q.Text(3);
  w->standby_version = q.Int(4);
  w->window_ms = q.Int(5);
  w->started_at_ms = q.Int(6);
  w->until_ms = q.Int(7);
  w->finished_at_ms = q.Int(8);
  w->failures = q.Int(9);
  w->reason = q.Text(10);
  w->evidence = q.Text(11);
}

Status PutWatchInTxn(sqlite3* db, const Watch& w) {
  Stmt q(db, "INSERT OR REPLACE INTO watches(" WATCH_COLUMNS ") "
             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  q.Bind(1, w.release_id).Bind(2, w.app).Bind(3, w.version).Bind(4, w.state).Bind(5, w.standby_version);
  q.Bind(6, w.window_ms).Bind(7, w.started_at_ms).Bind(8, w.until_ms).Bind(9, w.finished_at_ms);
  q.Bind(10, w.failures).Bind(11, w.reason).Bind(12, w.evidence.empty() ? std::string("{}") : w.evidence);
  Status s = q.Run();
  if (!s.ok() && sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FOREIGNKEY)
    return Status::NotFound(fmt::format("no release with id {} to watch", w.release_id));
  return s;
}

}  // namespace

Status Store::PutWatch(const Watch& w) {
  std::lock_guard<std::mutex> l(mu_);
  return PutWatchInTxn(db_, w);
}

Status Store::GetWatch(int64_t release_id, Watch* out) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "SELECT " WATCH_COLUMNS " FROM watches WHERE release_id = ?1");
  q.Bind(1, release_id);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return Status::NotFound(fmt::format("release {} was not watched", release_id));
  ReadWatch(q, out);
  return Status::OK();
}

Status Store::ListWatches(const std::string& state, std::vector<Watch>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  Stmt q(db_, "SELECT " WATCH_COLUMNS " FROM watches WHERE state = ?1 ORDER BY release_id");
  q.Bind(1, state);
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) ReadWatch(q, &out->emplace_back());
  if (!s.ok()) out->clear();
  return s;
}

Status Store::RollBackWatched(const Watch& w, const std::string& failure_reason) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  if (!(s = store_internal::ActivateInTxn(db_, w.app, w.standby_version)).ok()) return s;
  {
    Stmt failed(db_, "UPDATE releases SET status = ?2, failure_reason = ?3 WHERE id = ?1");
    failed.Bind(1, w.release_id).Bind(2, release_status::kFailed).Bind(3, failure_reason);
    if (!(s = failed.Run()).ok()) return s;
  }
  if (!(s = PutWatchInTxn(db_, w)).ok()) return s;
  return txn.Commit();
}

}  // namespace bim
