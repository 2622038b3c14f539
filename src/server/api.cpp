#include "server/api.h"

#include <cstdio>
#include <cstdlib>

#include "core/listen_policy.h"
#include "core/terminal_text.h"
#include "server/api_context.h"

namespace bim {

HttpServerOptions ApiHttpOptions(const ServerOptions& options, ApiTls* tls) {
  HttpServerOptions http = options.http;
  http.tls_cert = options.tls_cert;
  http.tls_key = options.tls_key;
  // With --api-domain the certificate is ApiTls's, picked per handshake (renewals without a restart).
  if (tls) http.tls_attach = [tls](ssl_ctx_st* ctx) { tls->Attach(ctx); };
  http.max_streams_per_client[kLogStreams] = options.max_log_streams_per_token;
  http.max_streams_per_client[kReleaseStreams] = options.max_releases_per_token;
  http.max_streams_per_client[kVolumeStreams] = options.max_releases_per_token;
  return http;
}

ApiServer::ApiServer(const ServerOptions& options, Deployer* deployer, Store* store, Authenticator* auth)
    : options_(options),
      tls_(options.certs.api_domain.empty() ? nullptr : std::make_unique<ApiTls>()),
      deployer_(deployer),
      store_(store),
      auth_(auth),
      http_(std::make_unique<HttpServer>(ApiHttpOptions(options, tls_.get()))) {
  Routes();
}

ApiServer::~ApiServer() = default;

Status ApiServer::Bind(int* bound_port) {
  // With --api-domain the API is always TLS, like with --tls-cert.
  if (Status s = CheckListenPolicy(options_.listen, options_.tls_cert, options_.tls_key, options_.insecure || tls_ != nullptr); !s.ok())
    return s;
  size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument("--listen must be HOST:PORT (got \"" + options_.listen + "\")");
  std::string host = options_.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = std::atoi(options_.listen.c_str() + colon + 1);
  return http_->Bind(host, port, bound_port);
}

void ApiServer::SetCertManager(CertManager* certs) { context_->certs = certs; }

void ApiServer::Serve() { http_->Serve(); }
void ApiServer::Stop() { http_->Stop(); }
Status ApiServer::ReloadTls() { return http_->ReloadTls(); }

void ApiServer::Routes() {
  HttpServer& http = *http_;
  http.SetErrorWriter(SendError);
  http.SetLogger([](const HttpRequest& req, int status) {
    // Method, path and status only: query strings and bodies may carry values we must not log.
    // The path is the client's (decoded): escaped, so it cannot forge log lines or reach a terminal.
    std::fprintf(stderr, "bimd: %s %s -> %d\n", req.method.empty() ? "-" : EscapeTerminalText(req.method).c_str(),
                 req.path.empty() ? "-" : EscapeTerminalText(req.path.substr(0, 1024)).c_str(), status);
  });

  http.Get("/healthz", HttpRoute{nullptr, [](const HttpRequest&, HttpResponse& res) {
                                   SendJson(res, nlohmann::json{{"ok", true}, {"service", "bimd"}});
                                 }});

  context_ = std::make_unique<ApiContext>(ApiContext{options_, http, *deployer_, *store_, *auth_});
  context_->api_tls = tls_.get();
  RegisterAppRoutes(*context_);
  RegisterReleaseRoutes(*context_);
  RegisterSecurityRoutes(*context_);
  RegisterHistoryRoutes(*context_);
  RegisterUploadRoutes(*context_);
  RegisterClusterRoutes(*context_);
  RegisterDomainRoutes(*context_);
  RegisterVolumeRoutes(*context_);
  RegisterUiRoutes(*context_);
}

}  // namespace bim
