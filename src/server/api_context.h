// What every API route file shares: the server's parts, the caller's identity, and the helpers that
// turn Status values into HTTP answers. Route groups live in api_<group>.cpp files, each registering
// its routes with one RegisterXRoutes(ApiContext&) function (see api.h for the full route list).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "http/http_server.h"
#include "server/auth.h"
#include "server/api_tls.h"
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

// A release-producing operation, run by ApiContext::StreamRelease.
using ReleaseOperation = std::function<Status(const EventSink&, const CancelCheck&, DeployOutcome*)>;

using AuthedHandler = std::function<void(const HttpRequest&, HttpResponse&, const Principal&)>;
using AppHandler =
    std::function<void(const HttpRequest&, HttpResponse&, const Principal&, const std::string& app)>;

// Stream classes (RouteOptions::stream): long-lived answers counted per token against
// options.max_log_streams_per_token and options.max_releases_per_token (volume backups: the latter
// too, as a restore is a release-like stream).
inline const std::string kLogStreams = "log streams";
inline const std::string kReleaseStreams = "releases";
inline const std::string kVolumeStreams = "volume backups";

// What route handlers share. ApiServer builds one in its constructor, owns it, and keeps it until it is
// destroyed, after Serve() has returned, so handlers may capture it (and the references below) by
// reference. The references do not own: `options` and `http` are ApiServer's own members; deployer,
// store and auth are main()'s and outlive the ApiServer. All of them are safe to use from the
// server's worker threads concurrently (see each class's thread-safety note).
struct ApiContext {
  const ServerOptions& options;
  HttpServer& http;
  Deployer& deployer;
  Store& store;
  Authenticator& auth;
  CertManager* certs = nullptr;  // set by ApiServer::SetCertManager before serving
  ApiTls* api_tls = nullptr;     // the API's own certificate with --api-domain, else null

  // A route that runs only for a valid token: 401 is answered when the headers are in, before any
  // of the body is read. The token's name is the client its caps count against; admin-level
  // (unscoped) tokens are privileged.
  HttpRoute Authed(AuthedHandler handler) const;
  // Like Authed, and also validates req.matches[1] as an app name and checks the principal may
  // access it (400/403 before the body is read); the handler gets the app name.
  HttpRoute ForApp(AppHandler handler) const;

  // Answers with a release-producing operation (deploy, rollback, env change) run inside a chunked
  // NDJSON response: its events as they happen, then {"event":"result","ok",...,"release","error",
  // "logs"}, because the outcome is only known after the headers went out. The operation runs on the
  // calling stream thread before StreamRelease returns; for routes with
  // RouteOptions::Stream(kReleaseStreams). A client that goes away makes `cancelled` return true.
  void StreamRelease(HttpResponse& res, const ReleaseOperation& op) const;
};

// Answers with the error `s` (not OK): HTTP status s.HttpStatus() (400 invalid, 401, 403, 404, 409,
// 413, 500, 503, ...) and the body {"error":{"code":s.CodeName(),"message":s.message()}}. Messages
// go to clients as they are, so a Status must never carry a secret.
void SendError(HttpResponse& res, const Status& s);
// GET /v1/server's answer for `who` (api_apps.cpp).
nlohmann::json ServerJson(const ApiContext& ctx, const Principal& who);
// Deployer::Nodes' answer with only the instances of `app_scope`'s app ("" = all), as a scoped token
// sees them (api_cluster.cpp).
void KeepScopedTasks(nlohmann::json* nodes, const std::string& app_scope);
// An audit entry as the API shows it (GET /v1/audit, the dashboard).
nlohmann::json AuditJson(const AuditEntry& e);
// Appends an audit entry for `who` doing `action` on `app` ("" for none) with its result.
void Audit(Store& store, const Principal& who, const std::string& action, const std::string& app,
           const Status& result, const std::string& detail);
// Answers 200 with `body` as JSON (invalid UTF-8 replaced, never thrown on).
void SendJson(HttpResponse& res, const nlohmann::json& body);
// Parses a JSON object body; InvalidArgument naming the problem otherwise.
Status ParseJsonBody(const HttpRequest& req, nlohmann::json* out);

// Bounds of the count parameters routes share.
inline constexpr int64_t kMaxListLimit = 1'000'000;  // ?limit= of releases and history (0 = all)
inline constexpr int64_t kDefaultLogTail = 100;      // ?tail= of logs
inline constexpr int64_t kMaxLogTail = 100'000;
// Reads the query parameter `name` with ParseCount (core/validate.h). Leaves *out (the default) as is
// when the parameter is absent; InvalidArgument naming the parameter and its range when malformed.
Status QueryCount(const HttpRequest& req, const std::string& name, int64_t min, int64_t max, int64_t* out);

// Writes NDJSON lines (one JSON object each) to a streaming response (HttpResponse::BeginStream) and
// tells whether the client is still there. Used on the response's stream thread; not thread-safe.
// Does not own `res`.
class NdjsonStream {
 public:
  // How each object is framed: one NDJSON line, or one server-sent event ("data: <json>\n\n", for
  // browsers' EventSource: the dashboard's live logs).
  enum class Framing { kNdjson, kServerSentEvents };
  // `heartbeat`: see Gone().
  NdjsonStream(HttpResponse& res, std::chrono::milliseconds heartbeat, Framing framing = Framing::kNdjson);
  // Writes one line. After a failed write (the client went away) every later call does nothing.
  void Write(const nlohmann::json& event);
  // True once a write failed. A vanished client is only noticed when a write fails, so when nothing
  // was written for `heartbeat` this writes {"event":"heartbeat"} first. Callers poll it (it is the
  // CancelCheck of streamed operations).
  bool Gone();

 private:
  HttpResponse& res_;
  const std::chrono::milliseconds heartbeat_;
  const Framing framing_;
  long long last_write_ms_;
  bool gone_ = false;
};

// Route groups, one file each.
void RegisterAppRoutes(ApiContext& ctx);       // apps, status, releases, logs, destroy, deploy (api_apps.cpp)
void RegisterReleaseRoutes(ApiContext& ctx);   // rollback, env list/set/unset (api_releases.cpp)
void RegisterSecurityRoutes(ApiContext& ctx);  // tokens, audit log (api_security.cpp)
void RegisterHistoryRoutes(ApiContext& ctx);   // git-backed deployment history (api_history.cpp)
void RegisterUploadRoutes(ApiContext& ctx);    // context manifest and image layer plans (api_uploads.cpp)
void RegisterDomainRoutes(ApiContext& ctx);    // custom domains and certificates (api_domains.cpp)
void RegisterUiRoutes(ApiContext& ctx);        // the dashboard at /ui/ (ui_routes.cpp)

// Completes a deploy request from what its upload carried (api_uploads.cpp): a planned build-context
// manifest (storing the "contents" part in the ContextStore), or an image (checking the "image" part
// with CheckImageArchive). A whole "context" tar needs nothing more. Deletes upload->path unless it was
// handed to the request. 4xx Status for a malformed or refused source, nothing kept.
struct DeployUpload;
Status ResolveDeploySource(ApiContext& ctx, const std::string& app, DeployUpload* upload, DeployRequest* request);
void RegisterClusterRoutes(ApiContext& ctx);     // nodes, scale (api_cluster.cpp)
void RegisterVolumeRoutes(ApiContext& ctx);    // volumes: list, backup, restore (api_volumes.cpp)

}  // namespace bim
