// Routes for custom domains and certificates:
//   GET    /v1/apps/{app}/domains            the app's domains and certificate state
//   POST   /v1/apps/{app}/domains            {"domains": [...]}: add (all or none)
//   DELETE /v1/apps/{app}/domains/{name}     remove one
//   POST   /v1/apps/{app}/certs              {"cert": PEM chain, "key": PEM key}: use this certificate
//   DELETE /v1/apps/{app}/certs              drop an uploaded certificate (ACME takes over if on)
// A domain change re-renders the app's site at once (so HTTP-01 challenges for the new name reach
// bimd) and asks the CertManager for a certificate. Every change is audited and committed to the
// deployment history.
#include <algorithm>
#include <functional>

#include "core/validate.h"
#include "server/api_context.h"

namespace bim {

using nlohmann::json;

namespace {

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A custom domain: a valid host name, not a wildcard, and not inside bimd's own --domain, where it
// could take another app's default name.
Status ValidateCustomDomain(const std::string& name, const ServerOptions& options) {
  if (name.find('*') != std::string::npos)
    return Status::InvalidArgument("wildcard domains are not supported (" + name + "); add each name");
  if (Status s = ValidateDomain(name); !s.ok()) return s;
  if (name.find('.') == std::string::npos)
    return Status::InvalidArgument(name + " is not a public name (expected something like shop.example.com)");
  std::string own = ToLower(options.domain);
  if (name == own || name.ends_with("." + own))
    return Status::InvalidArgument(name + " is inside bimd's own domain " + own +
                                   ", where apps already have <app>." + own + "; pick a name outside it");
  return Status::OK();
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// What adding and removing domains share once the store has the change: the app's site is
// re-rendered with it; if the proxy refuses, `undo` puts the store back and the refusal (with
// `refused`) is the answer. Otherwise the change goes into the history (`note`, unless empty) and the
// CertManager looks for certificates; the answer is the app's domains plus `field`: `value`. Audited
// as `action` on `names` either way.
void ApplyDomainChange(ApiContext& ctx, HttpResponse& res, const Principal& who, const std::string& app,
                       const char* action, const std::string& names, const std::function<void()>& undo,
                       const std::string& refused, const std::string& note, const char* field, const json& value) {
  Status s = ctx.deployer.RefreshSite(app);
  if (!s.ok()) undo();
  Audit(ctx.store, who, action, app, s, names);
  if (!s.ok()) return SendError(res, s.Wrap(refused));
  if (!note.empty()) ctx.deployer.NotifyDomainsChanged(app, note);
  if (ctx.certs) ctx.certs->Kick();
  json out = ctx.deployer.DomainsJson(app);
  out["app"] = app;
  out[field] = value;
  SendJson(res, out);
}

}  // namespace

void RegisterDomainRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Deployer& deployer = ctx.deployer;
  Store& store = ctx.store;

  http.Get(R"(/v1/apps/([^/]+)/domains)", ctx.ForApp([&](const HttpRequest&, HttpResponse& res,
                                                         const Principal&, const std::string& app) {
    App a;
    if (Status s = store.GetApp(app, &a); !s.ok()) return SendError(res, s);
    json out = deployer.DomainsJson(app);
    out["app"] = app;
    out["default_host"] = app + "." + ctx.options.domain;
    out["acme"] = ctx.certs && ctx.certs->acme_enabled();
    SendJson(res, out);
  }));

  http.Post(R"(/v1/apps/([^/]+)/domains)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                          const Principal& who, const std::string& app) {
    json body;
    Status s = ParseJsonBody(req, &body);
    if (!s.ok()) return SendError(res, s);
    if (!body.contains("domains") || !body["domains"].is_array() || body["domains"].empty())
      return SendError(res, Status::InvalidArgument("expected {\"domains\": [\"shop.example.com\", ...]}"));
    std::vector<std::string> names;
    for (const auto& d : body["domains"]) {
      if (!d.is_string()) return SendError(res, Status::InvalidArgument("domains must be strings"));
      std::string name = ToLower(d.get<std::string>());
      if (!(s = ValidateCustomDomain(name, ctx.options)).ok()) return SendError(res, s);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::vector<std::string> before;
    store.ListDomains(app, &before);
    if (!(s = store.AddDomains(app, names)).ok()) {
      Audit(store, who, "domains.add", app, s, Join(names));
      return SendError(res, s);
    }
    std::vector<std::string> added;
    for (const auto& n : names)
      if (std::find(before.begin(), before.end(), n) == before.end()) added.push_back(n);
    ApplyDomainChange(
        ctx, res, who, app, "domains.add", Join(names), [&] { for (const auto& n : added) store.RemoveDomain(app, n); },
        "the proxy refused the new names; nothing changed", added.empty() ? "" : "domains: added " + Join(added),
        "added", added);
  }));

  http.Delete(R"(/v1/apps/([^/]+)/domains/([^/]+))", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                                    const Principal& who, const std::string& app) {
    std::string name = ToLower(req.matches[2]);
    if (Status s = store.RemoveDomain(app, name); !s.ok()) return SendError(res, s);
    ApplyDomainChange(ctx, res, who, app, "domains.remove", name, [&] { store.AddDomains(app, {name}); },
                      "the proxy refused the change; the domain stays", "domains: removed " + name, "removed", name);
  }));

  http.Post(R"(/v1/apps/([^/]+)/certs)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                       const Principal& who, const std::string& app) {
    if (!ctx.certs) return SendError(res, Status::Unavailable("certificates are not managed by this bimd"));
    json body;
    Status s = ParseJsonBody(req, &body);
    if (!s.ok()) return SendError(res, s);
    if (!body.contains("cert") || !body["cert"].is_string() || !body.contains("key") || !body["key"].is_string())
      return SendError(res, Status::InvalidArgument("expected {\"cert\": \"<PEM chain>\", \"key\": \"<PEM key>\"}"));
    Certificate cert;
    s = ctx.certs->AddManual(app, body["cert"].get<std::string>(), body["key"].get<std::string>(), &cert);
    Audit(store, who, "certs.add", app, s, s.ok() ? Join(cert.names) : "");  // never the key
    if (!s.ok()) return SendError(res, s);
    json out = deployer.DomainsJson(app);
    out["app"] = app;
    SendJson(res, out);
  }));

  http.Delete(R"(/v1/apps/([^/]+)/certs)", ctx.ForApp([&](const HttpRequest&, HttpResponse& res,
                                                         const Principal& who, const std::string& app) {
    if (!ctx.certs) return SendError(res, Status::Unavailable("certificates are not managed by this bimd"));
    Status s = ctx.certs->Remove(app);
    Audit(store, who, "certs.remove", app, s, "");
    if (!s.ok()) return SendError(res, s);
    ctx.certs->Kick();
    json out = deployer.DomainsJson(app);
    out["app"] = app;
    SendJson(res, out);
  }));
}

}  // namespace bim
