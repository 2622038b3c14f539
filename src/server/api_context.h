// What every API route file shares: the server's parts, the caller's identity, and the helpers that
// turn Status values into HTTP answers. Route groups live in api_<group>.cpp files, each registering
// its routes with one RegisterXRoutes(ApiContext&) function (see api.h for the full route list).
#pragma once

#include <functional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "server/auth.h"
#include "server/cert_manager.h"
#include "server/deployer.h"
#include "server/options.h"
#include "store/store.h"

namespace bim {

// Who is calling: the token's name and, for a scoped token, the one app it may touch.
struct Principal {
  std::string name;       // token name ("admin" for the admin token); written to the audit log
  std::string app_scope;  // "" = every app
  bool read_secrets = false;  // may see env values (the admin token, and tokens made --read-secrets)
  bool IsAdmin() const { return app_scope.empty(); }
  // OK if this principal may act on `app`; PermissionDenied naming the scope otherwise.
  Status CanAccess(const std::string& app) const;
};

using AuthedHandler = std::function<void(const httplib::Request&, httplib::Response&, const Principal&)>;
using AuthedUploadHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const httplib::ContentReader&, const Principal&)>;

struct ApiContext {
  const ServerOptions& options;
  httplib::Server& http;
  Deployer& deployer;
  Store& store;
  Authenticator& auth;
  CertManager* certs = nullptr;  // set by ApiServer::SetCertManager before serving

  // Wraps a handler so it runs only for a valid token (401 otherwise, before any body is read).
  httplib::Server::Handler Authed(AuthedHandler handler) const;
  httplib::Server::HandlerWithContentReader Authed(AuthedUploadHandler handler) const;
  // Like Authed, and also validates req.matches[1] as an app name and checks the principal may
  // access it; the handler gets the app name.
  using AppHandler = std::function<void(const httplib::Request&, httplib::Response&, const Principal&,
                                        const std::string& app)>;
  httplib::Server::Handler ForApp(AppHandler handler) const;
};

void SendError(httplib::Response& res, const Status& s);
// Appends an audit entry for `who` doing `action` on `app` ("" for none) with its result.
void Audit(Store& store, const Principal& who, const std::string& action, const std::string& app,
           const Status& result, const std::string& detail);
void SendJson(httplib::Response& res, const nlohmann::json& body);
// Parses a JSON object body; InvalidArgument naming the problem otherwise.
Status ParseJsonBody(const httplib::Request& req, nlohmann::json* out);

// Streams NDJSON lines to a client and tells whether it is still there. When nothing was written for
// 2 s it writes {"event":"heartbeat"}, because a vanished client is only noticed when a write fails.
class NdjsonStream {
 public:
  explicit NdjsonStream(httplib::DataSink& sink);
  void Write(const nlohmann::json& event);
  bool Gone();

 private:
  httplib::DataSink& sink_;
  long long last_write_ms_;
  bool gone_ = false;
};

// Runs a release-producing operation (deploy, rollback, env change) inside a chunked NDJSON
// response: its events as they happen, then {"event":"result","ok",...,"release","error","logs"},
// because the outcome is only known after the headers went out.
using ReleaseOperation = std::function<Status(const EventSink&, const CancelCheck&, DeployOutcome*)>;
void StreamRelease(httplib::Response& res, ReleaseOperation op);

// Route groups, one file each.
void RegisterAppRoutes(ApiContext& ctx);       // apps, status, releases, logs, destroy, deploy (api_apps.cpp)
void RegisterReleaseRoutes(ApiContext& ctx);   // rollback, env list/set/unset (api_releases.cpp)
void RegisterSecurityRoutes(ApiContext& ctx);  // tokens, audit log (api_security.cpp)
void RegisterHistoryRoutes(ApiContext& ctx);   // git-backed deployment history (api_history.cpp)
void RegisterUploadRoutes(ApiContext& ctx);    // context manifest and image layer plans (api_uploads.cpp)
void RegisterDomainRoutes(ApiContext& ctx);    // custom domains and certificates (api_domains.cpp)

// Completes a deploy request from what its upload carried (api_uploads.cpp): a planned build-context
// manifest (storing the "contents" part in the ContextStore), or an image (checking the "image" part
// with CheckImageArchive). A whole "context" tar needs nothing more. Deletes upload->path unless it was
// handed to the request. 4xx Status for a malformed or refused source, nothing kept.
struct DeployUpload;
Status ResolveDeploySource(ApiContext& ctx, const std::string& app, DeployUpload* upload, DeployRequest* request);

}  // namespace bim
