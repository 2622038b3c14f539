// Store: custom domains, certificates and HTTPS settings. SQL is constant text; every value goes
// through a bound parameter.
#include <fmt/format.h>
#include <sqlite3.h>

#include "base/file_util.h"
#include "store/store.h"
#include "store/store_internal.h"

namespace bim {

using store_internal::Stmt;
using store_internal::Txn;

namespace {

#define CERT_COLUMNS                                                                                  \
  "app, source, names, cert_path, key_path, not_before_ms, not_after_ms, state, error, attempts, " \
  "next_attempt_ms, updated_at_ms"

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::vector<std::string> SplitNames(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find(' ', start);
    if (end == std::string::npos) end = joined.size();
    if (end > start) out.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status AppExists(sqlite3* db, const std::string& app) {
  Stmt q(db, "SELECT 1 FROM apps WHERE name = ?1");
  q.Bind(1, app);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return Status::NotFound(fmt::format("app {} does not exist (deploy it first with `bim deploy`)", app));
  return Status::OK();
}

}  // namespace

Status Store::AddDomains(const std::string& app, const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> l(mu_);
  Txn txn(db_);
  Status s = txn.Begin();
  if (!s.ok()) return s;
  if (!(s = AppExists(db_, app)).ok()) return s;
  int64_t now = NowMillis();
  for (const auto& name : names) {
    Stmt owner(db_, "SELECT app FROM domains WHERE name = ?1");
    owner.Bind(1, name);
    bool row;
    if (!(s = owner.Step(&row)).ok()) return s;
    if (row) {
      if (owner.Text(0) == app) continue;
      return Status::Conflict(fmt::format("{} already belongs to app {} (remove it there first: bim domains remove {} {})",
                                          name, owner.Text(0), owner.Text(0), name));
    }
    Stmt ins(db_, "INSERT INTO domains(name, app, added_at_ms) VALUES(?1, ?2, ?3)");
    ins.Bind(1, name).Bind(2, app).Bind(3, now);
    if (!(s = ins.Run()).ok()) return s;
  }
  return txn.Commit();
}

Status Store::RemoveDomain(const std::string& app, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "DELETE FROM domains WHERE app = ?1 AND name = ?2");
  q.Bind(1, app).Bind(2, name);
  if (Status s = q.Run(); !s.ok()) return s;
  if (sqlite3_changes(db_) == 0)
    return Status::NotFound(fmt::format("app {} has no domain {} (see `bim domains {}`)", app, name, app));
  return Status::OK();
}

Status Store::ListDomains(const std::string& app, std::vector<std::string>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  Stmt q(db_, "SELECT name FROM domains WHERE app = ?1 ORDER BY name");
  q.Bind(1, app);
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) out->push_back(q.Text(0));
  return s;
}

Status Store::ListAllDomains(std::vector<std::pair<std::string, std::vector<std::string>>>* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  Stmt q(db_, "SELECT app, name FROM domains ORDER BY app, name");
  bool row;
  Status s;
  while ((s = q.Step(&row)).ok() && row) {
    std::string app = q.Text(0);
    if (out->empty() || out->back().first != app) out->push_back({app, {}});
    out->back().second.push_back(q.Text(1));
  }
  if (!s.ok()) out->clear();
  return s;
}

Status Store::GetCertificate(const std::string& app, Certificate* out) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "SELECT " CERT_COLUMNS " FROM certificates WHERE app = ?1");
  q.Bind(1, app);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (!row) return Status::NotFound(fmt::format("app {} has no certificate", app));
  out->app = q.Text(0);
  out->source = q.Text(1);
  out->names = SplitNames(q.Text(2));
  out->cert_path = q.Text(3);
  out->key_path = q.Text(4);
  out->not_before_ms = q.Int(5);
  out->not_after_ms = q.Int(6);
  out->state = q.Text(7);
  out->error = q.Text(8);
  out->attempts = static_cast<int>(q.Int(9));
  out->next_attempt_ms = q.Int(10);
  out->updated_at_ms = q.Int(11);
  return Status::OK();
}

Status Store::PutCertificate(const Certificate& c) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "INSERT OR REPLACE INTO certificates(" CERT_COLUMNS
              ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  q.Bind(1, c.app).Bind(2, c.source).Bind(3, JoinNames(c.names)).Bind(4, c.cert_path).Bind(5, c.key_path);
  q.Bind(6, c.not_before_ms).Bind(7, c.not_after_ms).Bind(8, c.state).Bind(9, c.error);
  q.Bind(10, static_cast<int64_t>(c.attempts)).Bind(11, c.next_attempt_ms).Bind(12, NowMillis());
  return q.Run();
}

Status Store::DeleteCertificate(const std::string& app) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "DELETE FROM certificates WHERE app = ?1");
  q.Bind(1, app);
  return q.Run();
}

Status Store::GetHttpConfig(const std::string& app, HttpConfig* out) {
  std::lock_guard<std::mutex> l(mu_);
  *out = HttpConfig{};
  Stmt q(db_, "SELECT force_https, hsts FROM app_https WHERE app = ?1");
  q.Bind(1, app);
  bool row;
  if (Status s = q.Step(&row); !s.ok()) return s;
  if (row) {
    out->force_https = q.Int(0) != 0;
    out->hsts = q.Int(1) != 0;
  }
  return Status::OK();
}

Status Store::SetHttpConfig(const std::string& app, const HttpConfig& settings) {
  std::lock_guard<std::mutex> l(mu_);
  Stmt q(db_, "INSERT OR REPLACE INTO app_https(app, force_https, hsts) VALUES(?1, ?2, ?3)");
  q.Bind(1, app).Bind(2, static_cast<int64_t>(settings.force_https)).Bind(3, static_cast<int64_t>(settings.hsts));
  return q.Run();
}

}  // namespace bim
