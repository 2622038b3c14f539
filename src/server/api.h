// ApiServer: bimd's HTTP API on the HTTP layer in src/http (Boost.Beast; see http_server.h for how
// requests are bounded). Every route except GET /healthz and the dashboard's (/ui/, which logs in with
// a session cookie) needs a bearer token (401 without one); a token scoped to one app gets 403 for other
// apps and for token management.
//
//   GET    /healthz                     liveness probe, no auth: {"ok":true,"service":"bimd"}
//   GET    /v1/server                   {"service","instance","token","domain","http_listen","engine","registry","app_url_pattern",
//                                        "api_certificate"? (with --api-domain: domain, serving, state, error...)}
//   GET    /v1/apps                     {"apps":[{"app","url","live","status","latest",...}]}
//   GET    /v1/apps/{app}               status of one app: settings, live and latest release, container
//   DELETE /v1/apps/{app}               destroy (cancels a release in progress first): route, containers,
//                                       images, records -> what was removed
//   GET    /v1/apps/{app}/releases      {"releases":[...]} newest first (?limit=N, 0 = all)
//   GET    /v1/apps/{app}/logs          NDJSON {"line":...} (?tail=N&follow=1)
//   GET    /v1/apps/{app}/history       {"commits":[...]} of the git deployment history (?limit=N)
//   POST   /v1/apps/{app}/contexts      text/plain context manifest -> {"manifest","missing",...} (api_uploads.cpp)
//   POST   /v1/apps/{app}/layers        {"image","layers"} -> {"image","layers"} (api_uploads.cpp)
//   POST   /v1/apps/{app}/deploy        multipart: "meta" (JSON) then "context" (tar); NDJSON events
//   POST   /v1/apps/{app}/cancel        stop the release in progress (unscoped token) -> {"cancelled"}
//   POST   /v1/apps/{app}/rollback      {"to":"v3"?,"wait"?}; NDJSON events
//   GET    /v1/apps/{app}/env           {"env":[{"key","value"}]} values masked unless ?reveal=1
//   POST   /v1/apps/{app}/env           {"set":[{"key","value"}],"unset":["KEY"],"wait"?}; NDJSON events
//   POST   /v1/tokens                   {"name","app"?} -> the new token, shown once
//   POST   /v1/tokens/rotate-admin      a new admin token, written to the token file and shown once
//   GET    /v1/tokens                   {"tokens":[...]} (never values or hashes)
//   DELETE /v1/tokens/{id}              revoke
//   GET    /v1/audit                    {"entries":[...]} newest first (?app=APP&limit=N)
//   POST   /v1/apps/{app}/scale         {"replicas": N}; NDJSON events like a deploy (api_cluster.cpp)
//   GET    /v1/nodes                    {"engine","registry","nodes":[{hostname, state, tasks...}]}
//   GET    /v1/apps/{app}/domains       the app's domains and certificate state (api_domains.cpp)
//   POST   /v1/apps/{app}/domains       {"domains":[...]}: add (all or none)
//   DELETE /v1/apps/{app}/domains/{name}  remove one
//   POST   /v1/apps/{app}/certs         {"cert": PEM chain, "key": PEM key}: use this certificate
//   DELETE /v1/apps/{app}/certs         drop an uploaded certificate (ACME takes over if on)
//   GET    /ui/...                      the read-only dashboard (HTML; session cookie, not bearer tokens):
//                                       /ui/, /ui/login, /ui/logout, /ui/apps/{app}, /ui/apps/{app}/logs,
//                                       /ui/server (ui_routes.cpp)
//
// Errors are {"error":{"code":"not_found","message":"..."}} with the matching HTTP status. Streams
// (deploy, rollback, env change, logs) answer 200 and end with a {"event":"result"} object that
// carries ok/error, because the outcome is only known after the headers went out.
//
// Limits (ServerOptions::http and the per-token caps): authentication and every size check happen
// when a request's headers are in, before its body is read; only the deploy route takes a large or
// chunked body. Log follows and releases run on threads of their own, capped per token.
//
// Thread-safety: Serve() on one thread; Stop() and ReloadTls() from any. Handlers run on the HTTP
// layer's worker and stream threads; all state lives in the Deployer and Store.
// Routes are registered by group from api_<group>.cpp files (see api_context.h); this list is their
// index, so a new route is added here too.
#pragma once

#include <memory>
#include <string>

#include "http/http_server.h"
#include "server/api_tls.h"
#include "server/auth.h"
#include "server/cert_manager.h"
#include "server/deployer.h"
#include "server/options.h"

namespace bim {

struct ApiContext;

class ApiServer {
 public:
  ApiServer(const ServerOptions& options, Deployer* deployer, Store* store, Authenticator* auth);
  ~ApiServer();

  // Binds options.listen ("host:port"; port 0 picks a free one). Unavailable if it cannot bind;
  // InvalidArgument if the TLS files cannot be loaded or the address breaks the listen policy.
  Status Bind(int* bound_port);
  // Custom domains and certificates are handled with `certs` (not owned; must outlive the server).
  // Without it the domain routes answer 503.
  void SetCertManager(CertManager* certs);
  // With options.certs.api_domain: the API's swappable certificate (serve one before Serve(); the
  // CertManager installs renewals through it). Null otherwise (plain HTTP, or --tls-cert files).
  ApiTls* tls() { return tls_.get(); }
  // Serves until Stop() is called from another thread (or a signal handler thread).
  void Serve();
  void Stop();
  // Loads --tls-cert/--tls-key again (e.g. renewed); new connections use them. With --api-domain,
  // FailedPrecondition (renewals go through tls()).
  Status ReloadTls();
  HttpServer::Stats Stats() const { return http_->GetStats(); }

 private:
  void Routes();

  const ServerOptions options_;
  std::unique_ptr<ApiTls> tls_;  // before http_: the TLS context refers to it
  Deployer* deployer_;
  Store* store_;
  Authenticator* auth_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<ApiContext> context_;
};

// The HTTP layer's options for bimd: options.http with the TLS files (or `tls`, --api-domain's
// per-handshake certificate, when not null) and per-token stream caps.
HttpServerOptions ApiHttpOptions(const ServerOptions& options, ApiTls* tls = nullptr);

}  // namespace bim
