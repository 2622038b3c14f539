// CertManager: keeps every app's custom domains covered by a valid certificate. It obtains one from
// an ACME CA (through AcmeClient) when an app gains domains, renews it once `renew_fraction` of its
// lifetime has passed, and drops it when the app has no domains left. Certificates users upload
// (`bim certs add`) are checked here too and never replaced by ACME.
//
// A new certificate is checked before it can go live (CheckCertificate: it parses, the key matches,
// the chain links, the dates hold, the names cover the domains), its files are written beside the
// old ones under new names (a handshake in progress never reads a half-written file), and the app's
// site is put again with the new paths (the `apply` callback, Deployer::RefreshSite: a host-table
// change, no reload); if that fails, the record points back at the old files and the new ones are
// deleted. Failures (CA down, rate limit, DNS not pointing here)
// never take an app offline: it keeps its old certificate or plain HTTP, the record says why, and
// the next attempt waits retry_min, doubling up to retry_max.
//
// bimd's own API name (`--api-domain`, options.api_domain) is kept the same way, with ACME only: its
// record lives in the store's meta table (it is no app), its files in api_certs_dir, and a new
// certificate goes live through the `api_apply` callback (ApiTls: the next handshakes use it).
//
// Thread-safety: one background thread does all the work, one app at a time (lego shares one ACME
// account directory). Kick() and the constructor/destructor may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "server/acme.h"
#include "store/store.h"

namespace bim {

struct CertManagerOptions {
  std::string certs_dir;                          // <data>/certs: one 0700 directory per app
  double renew_fraction = 2.0 / 3.0;              // renew once this much of the lifetime has passed
  std::chrono::milliseconds check_interval{60000}; // look at every app this often (and when kicked)
  std::chrono::milliseconds retry_min{30000};     // first wait after a failure; doubles each time
  std::chrono::milliseconds retry_max{3600000};
  // The API's own name (bimd --api-domain; "" = the API's TLS is not bimd's to obtain) and where its
  // certificate files live (<data>/api-certs).
  std::string api_domain;
  std::string api_certs_dir;
};

class CertManager {
 public:
  using ApplyFn = std::function<Status(const std::string& app)>;
  // Serves a new API certificate (its PEM files); on failure the API keeps the one it has.
  using ApiApplyFn = std::function<Status(const std::string& cert_path, const std::string& key_path)>;
  // `store` must outlive this object; `acme` may be null (ACME off: only uploaded certificates).
  // `apply` puts the app's site again from the store (Deployer::RefreshSite).
  CertManager(CertManagerOptions options, Store* store, AcmeClient* acme, ApplyFn apply);
  ~CertManager();  // stops the thread (an issuance in progress is waited for)

  // Where a new API certificate goes live (with options.api_domain set). Call before Start().
  void SetApiApply(ApiApplyFn apply) { api_apply_ = std::move(apply); }
  // The API certificate's record (state, error, next attempt). NotFound before the first attempt.
  Status ApiCertificate(Certificate* out);

  void Start();
  // Looks at every app soon (after a domain change), without waiting for check_interval.
  void Kick();
  // Runs one pass over every app now, on the caller's thread (tests, and Start's first pass).
  void CheckAll();

  // Validates an uploaded certificate and key (key matches, chain, not expired, names cover every
  // custom domain of the app), stores them 0600 and makes them live. On failure nothing changes and
  // the error says what is wrong with the files.
  Status AddManual(const std::string& app, const std::string& chain_pem, const std::string& key_pem,
                   Certificate* out);

  // Drops the app's certificate (the site goes back to plain HTTP for its domains; with ACME on, a
  // new one is obtained on the next pass). NotFound if it has none.
  Status Remove(const std::string& app);

  bool acme_enabled() const { return acme_ != nullptr; }

 private:
  void Loop();
  // One record per key: an app's, or the API's (kApiKey), kept in the store either way.
  bool Load(const std::string& key, Certificate* out);
  Status Save(const Certificate& c);
  Status Drop(const std::string& key);
  Status Apply(const std::string& key, const Certificate& c);
  void CheckApp(const std::string& app, const std::vector<std::string>& domains);
  // Writes the PEM files under new names and makes them live through apply_. On failure the previous
  // record and files stay as they were.
  Status Install(const std::string& app, const std::string& source, const std::string& chain_pem,
                 const std::string& key_pem, const std::vector<std::string>& names, Certificate* out);
  Status Forget(const std::string& app);  // requires work_mu_
  void RecordFailure(const std::string& app, const std::vector<std::string>& names, const Status& why);

  const CertManagerOptions options_;
  Store* store_;
  AcmeClient* acme_;
  ApplyFn apply_;
  ApiApplyFn api_apply_;
  std::mutex work_mu_;  // one app at a time: the loop, AddManual
  std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace bim
