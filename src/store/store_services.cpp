// Store: the services each release runs (migration 10).
#include <sqlite3.h>

#include "store/store.h"
#include "store/store_internal.h"

namespace bim {

using store_internal::ReleaseExists;
using store_internal::Stmt;
using store_internal::Txn;

Status Store::SaveReleaseServices(int64_t release_id, const std::vector<ReleaseService>& services) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  if (!(s = ReleaseExists(db_, release_id)).ok()) return s;
  {
    // Their env rows go with them (ON DELETE CASCADE).
    Stmt del(db_, "DELETE FROM release_services WHERE release_id = ?1");
    del.Bind(1, release_id);
    if (!(s = del.Run()).ok()) return s;
  }
  for (size_t i = 0; i < services.size(); ++i) {
    const ReleaseService& svc = services[i];
    Stmt ins(db_,
             "INSERT INTO release_services(release_id, service, ord, workload, image_tag, image_id, digest, spec) "
             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    ins.Bind(1, release_id).Bind(2, svc.service).Bind(3, static_cast<int64_t>(i)).Bind(4, svc.workload);
    ins.Bind(5, svc.image_tag).Bind(6, svc.image_id).Bind(7, svc.digest).Bind(8, svc.spec);
    if (!(s = ins.Run()).ok()) return s;
    Stmt env(db_,
             "INSERT INTO release_service_env(service_id, key, nonce, ciphertext, ord) VALUES(?1, ?2, ?3, ?4, ?5) "
             "ON CONFLICT(service_id, key) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext");
    env.Bind(1, static_cast<int64_t>(sqlite3_last_insert_rowid(db_)));
    if (!(s = store_internal::InsertEnv(&env, key_, svc.env)).ok()) return s;
  }
  return txn.Commit();
}

Status Store::LoadReleaseServices(int64_t release_id, std::vector<ReleaseService>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  if (Status s = ReleaseExists(db_, release_id); !s.ok()) return s;
  Stmt q(db_,
         "SELECT id, service, workload, image_tag, image_id, digest, spec FROM release_services "
         "WHERE release_id = ?1 ORDER BY ord");
  q.Bind(1, release_id);
  std::vector<int64_t> ids;
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) {
    ids.push_back(q.Int(0));
    out->push_back({q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5), q.Text(6), {}});
  }
  if (!s.ok()) {
    out->clear();
    return s;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    Stmt env(db_, "SELECT key, nonce, ciphertext FROM release_service_env WHERE service_id = ?1 ORDER BY ord");
    env.Bind(1, ids[i]);
    if (!(s = store_internal::ReadEnv(&env, key_, &(*out)[i].env)).ok()) {
      out->clear();
      return s;
    }
  }
  return Status::OK();
}

}  // namespace bim
