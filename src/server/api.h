// ApiServer: bimd's HTTP API (cpp-httplib). Every route except GET /healthz needs a bearer token.
//
//   GET    /healthz                         liveness probe, no auth
//   GET    /v1/apps                         {"apps":[...]}
//   GET    /v1/apps/{app}                   status of one app
//   GET    /v1/apps/{app}/releases          {"releases":[...]} newest first (?limit=N)
//   GET    /v1/apps/{app}/logs              NDJSON {"line":...} (?tail=N&follow=1)
//   POST   /v1/apps/{app}/deploy            multipart: "meta" (JSON) then "context" (tar); NDJSON events
//   POST   /v1/apps/{app}/cancel            stop the release in progress (unscoped token) -> {"cancelled"}
//   DELETE /v1/apps/{app}                   destroy (cancels a release in progress first)
//   (rollback and env: api_releases.cpp; tokens and audit: api_security.cpp; history: api_history.cpp)
//
// Errors are {"error":{"code":"not_found","message":"..."}} with the matching HTTP status. Streams
// (deploy, logs) answer 200 and end with a {"event":"result"} object that carries ok/error, because
// the outcome is only known after the headers went out.
//
// Thread-safety: requests are served on a thread pool; all state lives in the Deployer and Store.
// Routes are registered by group from api_<group>.cpp files (see api_context.h).
#pragma once

#include <memory>
#include <string>

#include "server/auth.h"
#include "server/cert_manager.h"
#include "server/deployer.h"
#include "server/options.h"

namespace httplib {
class Server;
}

namespace bim {

struct ApiContext;

class ApiServer {
 public:
  ApiServer(const ServerOptions& options, Deployer* deployer, Store* store, Authenticator* auth);
  ~ApiServer();

  // Binds options.listen ("host:port"; port 0 picks a free one). Unavailable if it cannot bind.
  Status Bind(int* bound_port);
  // Custom domains and certificates are handled with `certs` (not owned; must outlive the server).
  // Without it the domain routes answer 503.
  void SetCertManager(CertManager* certs);
  // Serves until Stop() is called from another thread (or a signal handler thread).
  void Serve();
  void Stop();

 private:
  void Routes();

  const ServerOptions options_;
  Deployer* deployer_;
  Store* store_;
  Authenticator* auth_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<ApiContext> context_;
};

}  // namespace bim
