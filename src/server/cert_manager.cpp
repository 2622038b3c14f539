#include "server/cert_manager.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "base/certificate.h"
#include "base/failpoint.h"
#include "base/file_util.h"
#include "base/random.h"
#include "server/auth.h"

namespace bim {

namespace {

bool SameNames(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

void RemoveQuietly(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

// The API's certificate record: not an app, so not in the certificates table (whose rows belong to
// apps) but in the meta table, as JSON.
constexpr const char* kApiKey = "";  // no app is named ""
constexpr const char* kApiMeta = "api_certificate";

std::string ToJson(const Certificate& c) {
  return nlohmann::json{{"source", c.source},       {"names", c.names},
                        {"cert_path", c.cert_path}, {"key_path", c.key_path},
                        {"not_before_ms", c.not_before_ms}, {"not_after_ms", c.not_after_ms},
                        {"state", c.state},         {"error", c.error},
                        {"attempts", c.attempts},   {"next_attempt_ms", c.next_attempt_ms},
                        {"updated_at_ms", NowMillis()}}
      .dump();
}

bool FromJson(const std::string& text, Certificate* c) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return false;
  c->app = kApiKey;
  c->source = j.value("source", "acme");
  c->names = j.value("names", std::vector<std::string>{});
  c->cert_path = j.value("cert_path", "");
  c->key_path = j.value("key_path", "");
  c->not_before_ms = j.value("not_before_ms", int64_t{0});
  c->not_after_ms = j.value("not_after_ms", int64_t{0});
  c->state = j.value("state", "");
  c->error = j.value("error", "");
  c->attempts = j.value("attempts", 0);
  c->next_attempt_ms = j.value("next_attempt_ms", int64_t{0});
  c->updated_at_ms = j.value("updated_at_ms", int64_t{0});
  return true;
}

}  // namespace

bool CertManager::Load(const std::string& key, Certificate* out) {
  if (key != kApiKey) return store_->GetCertificate(key, out).ok();
  std::string text;
  return store_->GetMeta(kApiMeta, &text).ok() && !text.empty() && FromJson(text, out);
}

Status CertManager::Save(const Certificate& c) {
  return c.app == kApiKey ? store_->SetMeta(kApiMeta, ToJson(c)) : store_->PutCertificate(c);
}

Status CertManager::Drop(const std::string& key) {
  return key == kApiKey ? store_->SetMeta(kApiMeta, "") : store_->DeleteCertificate(key);
}

Status CertManager::Apply(const std::string& key, const Certificate& c) {
  if (key != kApiKey) return apply_(key);
  return api_apply_ ? api_apply_(c.cert_path, c.key_path) : Status::OK();
}

Status CertManager::ApiCertificate(Certificate* out) {
  return Load(kApiKey, out) ? Status::OK() : Status::NotFound("no API certificate yet");
}

CertManager::CertManager(CertManagerOptions options, Store* store, AcmeClient* acme, ApplyFn apply)
    : options_(std::move(options)), store_(store), acme_(acme), apply_(std::move(apply)) {}

CertManager::~CertManager() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertManager::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void CertManager::Kick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void CertManager::Loop() {
  for (;;) {
    CheckAll();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.check_interval, [this] { return stop_ || kicked_; });
    if (stop_) return;
    kicked_ = false;
  }
}

void CertManager::CheckAll() {
  std::vector<std::pair<std::string, std::vector<std::string>>> with_domains;
  if (!store_->ListAllDomains(&with_domains).ok()) return;
  std::set<std::string> seen;
  for (const auto& [app, domains] : with_domains) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    seen.insert(app);
    CheckApp(app, domains);
  }
  if (!options_.api_domain.empty()) CheckApp(kApiKey, {options_.api_domain});
  // Apps whose last domain went away: their ACME certificate goes too.
  std::vector<App> apps;
  if (!store_->ListApps(&apps).ok()) return;
  for (const App& a : apps) {
    if (seen.count(a.name)) continue;
    Certificate c;
    if (store_->GetCertificate(a.name, &c).ok() && c.source == "acme") {
      std::lock_guard<std::mutex> work(work_mu_);
      Forget(a.name);
    }
  }
}

void CertManager::CheckApp(const std::string& app, const std::vector<std::string>& domains) {
  std::lock_guard<std::mutex> work(work_mu_);
  Certificate cert;
  bool has = Load(app, &cert);
  if (has && cert.source == "manual") return;  // the user's; `bim status` says what it does not cover
  if (!acme_) return;
  long long now = NowMillis();
  bool usable = has && !cert.cert_path.empty() && now < cert.not_after_ms;
  bool due = !usable || !SameNames(cert.names, domains) ||
             now >= cert.not_before_ms +
                        static_cast<int64_t>(options_.renew_fraction * static_cast<double>(cert.not_after_ms - cert.not_before_ms));
  if (!due) return;
  if (has && cert.attempts > 0 && now < cert.next_attempt_ms && SameNames(cert.names, domains)) return;  // backing off
  std::string chain, key;
  Status s = acme_->Obtain(domains, &chain, &key);
  Failpoint("cert.obtained");
  if (s.ok()) {
    Certificate installed;
    s = Install(app, "acme", chain, key, domains, &installed);
  }
  if (!s.ok()) RecordFailure(app, domains, s);
}

Status CertManager::Install(const std::string& app, const std::string& source, const std::string& chain_pem,
                            const std::string& key_pem, const std::vector<std::string>& names, Certificate* out) {
  CertificateInfo info;
  Status s = CheckCertificate(chain_pem, key_pem, NowMillis(), &info);
  if (!s.ok()) return s;
  if (std::string missing = FirstUncoveredName(info.names, names); !missing.empty())
    return Status::InvalidArgument("the certificate does not cover " + missing + " (it covers " +
                                   [&] {
                                     std::string all;
                                     for (const auto& n : info.names) all += (all.empty() ? "" : ", ") + n;
                                     return all;
                                   }() +
                                   "); get one for every domain of the app, or remove the domain");
  std::string dir = app == kApiKey ? options_.api_certs_dir : options_.certs_dir + "/" + app;
  if (!(s = MakeDirs(dir, 0700)).ok()) return s;
  // New names each time: the host table keeps pointing at the old files until the new ones are live.
  std::string stem = dir + "/" + std::to_string(NowMillis()) + "-" + RandomHex(4);
  Certificate next;
  next.app = app;
  next.source = source;
  next.names = names;
  next.cert_path = stem + ".crt";
  next.key_path = stem + ".key";
  next.not_before_ms = info.not_before_ms;
  next.not_after_ms = info.not_after_ms;
  next.state = cert_state::kValid;
  if (!(s = WriteFileAtomically(next.key_path, key_pem, 0600)).ok()) return s;
  if (!(s = WriteFileAtomically(next.cert_path, chain_pem, 0600)).ok()) {
    RemoveQuietly(next.key_path);
    return s;
  }
  Certificate previous;
  bool had = Load(app, &previous);
  if (!(s = Save(next)).ok() || !(s = Apply(app, next)).ok()) {
    if (had)
      Save(previous);
    else
      Drop(app);
    RemoveQuietly(next.cert_path);
    RemoveQuietly(next.key_path);
    return s.Wrap("the new certificate did not go live");
  }
  // Older files go, except the previous certificate's: a handshake that read the host table just
  // before the switch may still be about to load it.
  std::set<std::string> keep = {next.cert_path, next.key_path};
  if (had) keep.insert({previous.cert_path, previous.key_path});
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (!keep.count(entry.path().string())) RemoveQuietly(entry.path().string());
  Load(app, out);
  AuditEntry e;
  e.actor = "bimd";
  e.action = source == "acme" ? "certs.obtain" : "certs.add";
  e.app = app;
  e.result = "ok";
  e.detail = (app == kApiKey ? "API certificate for " + options_.api_domain + ", " : std::string()) + "valid until " +
             FormatUtcMinute(info.not_after_ms);
  store_->AppendAudit(&e);
  return Status::OK();
}

void CertManager::RecordFailure(const std::string& app, const std::vector<std::string>& names, const Status& why) {
  Certificate c;
  bool has = Load(app, &c);
  if (!has) {
    c.app = app;
    c.source = "acme";
  }
  bool usable = has && !c.cert_path.empty() && NowMillis() < c.not_after_ms;
  if (!usable) {
    c.state = cert_state::kError;
    c.names = names;
  }
  c.error = why.message();
  c.attempts += 1;
  long long wait = options_.retry_min.count();
  for (int i = 1; i < c.attempts && wait < options_.retry_max.count(); ++i) wait *= 2;
  c.next_attempt_ms = NowMillis() + std::min<long long>(wait, options_.retry_max.count());
  Save(c);
  AuditEntry e;
  e.actor = "bimd";
  e.action = "certs.obtain";
  e.app = app;
  e.result = why.message();
  if (app == kApiKey) e.detail = "API certificate for " + options_.api_domain;
  store_->AppendAudit(&e);
}

Status CertManager::Forget(const std::string& app) {
  Certificate c;
  Status s = store_->GetCertificate(app, &c);
  if (!s.ok()) return s;
  if (!(s = store_->DeleteCertificate(app)).ok()) return s;
  if (!(s = apply_(app)).ok()) {  // nginx still serves the old files: keep them and the record
    store_->PutCertificate(c);
    return s;
  }
  RemoveQuietly(c.cert_path);
  RemoveQuietly(c.key_path);
  return Status::OK();
}

Status CertManager::Remove(const std::string& app) {
  std::lock_guard<std::mutex> work(work_mu_);
  return Forget(app);
}

Status CertManager::AddManual(const std::string& app, const std::string& chain_pem, const std::string& key_pem,
                              Certificate* out) {
  std::lock_guard<std::mutex> work(work_mu_);
  std::vector<std::string> domains;
  Status s = store_->ListDomains(app, &domains);
  if (!s.ok()) return s;
  if (domains.empty())
    return Status::FailedPrecondition("app " + app + " has no custom domain; add one first: bim domains add " + app + " NAME");
  return Install(app, "manual", chain_pem, key_pem, domains, out);
}

}  // namespace bim
