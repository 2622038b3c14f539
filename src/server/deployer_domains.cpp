// Deployer: what an app's site looks like (its default name, its custom domains, the certificate
// that covers them), and re-rendering it when domains or certificates change.
#include <algorithm>
#include <cstdio>

#include "base/certificate.h"
#include "base/file_util.h"
#include "core/deploy_plan.h"
#include "server/deployer.h"

namespace bim {

using nlohmann::json;

namespace {

// The app's certificate if nginx can serve it: files present, not expired, bimd serving HTTPS.
bool ServableCertificate(Store* store, const ServerOptions& options, const std::string& app, Certificate* out) {
  if (options.nginx.https_listen.empty()) return false;
  if (!store->GetCertificate(app, out).ok()) return false;
  return !out->cert_path.empty() && !out->key_path.empty() && NowMillis() < out->not_after_ms;
}

std::string HttpsPortSuffix(const std::string& listen) {
  size_t colon = listen.rfind(':');
  std::string port = colon == std::string::npos ? "443" : listen.substr(colon + 1);
  return port == "443" ? "" : ":" + port;
}

}  // namespace

Site Deployer::SiteFor(const std::string& app, const std::vector<ServiceSpec>& services) const {
  Site site{app, {}};
  const std::string base = AppHost(app, options_.domain);
  for (const ServiceSpec& spec : services) {
    std::string route = ServiceRouteKey(app, spec);
    if (route.empty()) continue;
    VirtualHost host{{}, route};
    if (spec.http.main) host.server_names.push_back(base);
    for (const auto& r : spec.http.routes) host.server_names.push_back(r + "." + base);
    host.server_names.insert(host.server_names.end(), spec.http.domains.begin(), spec.http.domains.end());
    if (host.server_names.empty()) continue;  // an HTTP port with no name routed to it
    // The main service's names come first: nginx picks the app's default by it.
    if (spec.http.main) site.hosts.insert(site.hosts.begin(), host);
    else site.hosts.push_back(host);
  }
  if (site.hosts.empty()) site.hosts.push_back(VirtualHost{{base}, app});  // services unknown: the app's name
  // Custom domains (`bim domains add`) serve the app's main route.
  std::vector<std::string> domains;
  store_->ListDomains(app, &domains);
  if (domains.empty()) return site;
  // Names the certificate covers get an HTTPS server block; the rest (a domain added a moment ago,
  // whose certificate is on its way) stay plain HTTP, so no name is redirected to a certificate
  // that does not cover it.
  VirtualHost secure{{}, app}, plain{{}, app};
  Certificate cert;
  bool tls = ServableCertificate(store_, options_, app, &cert);
  for (const auto& d : domains)
    (tls && FirstUncoveredName(cert.names, {d}).empty() ? secure : plain).server_names.push_back(d);
  if (!secure.server_names.empty()) {
    HttpConfig https;
    store_->GetHttpConfig(app, &https);
    secure.tls_certificate = cert.cert_path;
    secure.tls_key = cert.key_path;
    secure.redirect_to_https = https.force_https;
    secure.hsts = https.hsts;
    site.hosts.push_back(secure);
  }
  if (!plain.server_names.empty()) site.hosts.push_back(plain);
  return site;
}

void Deployer::ApplyHttpConfig(const std::string& app, const HttpConfig& http) {
  HttpConfig stored;
  if (!store_->GetHttpConfig(app, &stored).ok() || stored == http) return;
  Status s = store_->SetHttpConfig(app, http);
  if (s.ok()) s = RefreshSite(app);
  if (!s.ok()) std::fprintf(stderr, "bimd: warning: [http] of %s not applied: %s\n", app.c_str(), s.message().c_str());
}

Status Deployer::RefreshSite(const std::string& app) {
  App a;
  Status s = store_->GetApp(app, &a);
  if (!s.ok()) return s;
  if (a.live_version == 0) return Status::OK();
  Release live;
  std::vector<ReleaseService> records;
  if (!(s = store_->GetRelease(app, a.live_version, &live)).ok() || !(s = LoadServices(a, live, &records)).ok()) return s;
  std::vector<ServiceSpec> specs;
  for (const auto& record : records) {
    ServiceSpec spec;
    if (ServiceSpecFromJson(json::parse(record.spec, nullptr, false), &spec).ok()) specs.push_back(std::move(spec));
  }
  std::lock_guard<std::mutex> lock(routed_mu_);
  return router_->PutSite(SiteFor(app, specs));
}

std::string Deployer::PublicUrl(const std::string& app, const std::string& fallback) const {
  Certificate cert;
  if (!ServableCertificate(store_, options_, app, &cert)) return fallback;
  std::vector<std::string> domains;
  store_->ListDomains(app, &domains);
  for (const auto& d : domains)
    if (FirstUncoveredName(cert.names, {d}).empty()) return "https://" + d + HttpsPortSuffix(options_.nginx.https_listen) + "/";
  return fallback;
}

json Deployer::DomainsJson(const std::string& app) const {
  std::vector<std::string> domains;
  store_->ListDomains(app, &domains);
  json j{{"domains", domains}, {"certificate", nullptr}};
  Certificate c;
  if (store_->GetCertificate(app, &c).ok()) {
    json cert{{"source", c.source},        {"state", c.state},
              {"names", c.names},          {"not_before_ms", c.not_before_ms},
              {"not_after_ms", c.not_after_ms}, {"error", c.error},
              {"attempts", c.attempts},    {"next_attempt_ms", c.next_attempt_ms}};
    std::string missing = FirstUncoveredName(c.names, domains);
    if (!missing.empty() && c.state == cert_state::kValid) cert["uncovered"] = missing;
    if (options_.nginx.https_listen.empty() && !c.cert_path.empty())
      cert["warning"] = "bimd has no --https-listen: the certificate is not served";
    j["certificate"] = cert;
  }
  return j;
}

}  // namespace bim
