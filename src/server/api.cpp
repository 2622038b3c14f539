#include "server/api.h"

#include <httplib.h>

#include <cstdio>

#include "core/listen_policy.h"
#include "core/terminal_text.h"
#include "server/api_context.h"

namespace bim {

namespace {
// httplib::SSLServer is an httplib::Server whose connections are TLS; everything else is shared.
// With --api-domain the certificate is ApiTls's, picked per handshake (renewals without a restart).
std::unique_ptr<httplib::Server> MakeServer(const ServerOptions& options, ApiTls* tls) {
  if (tls)
    return std::make_unique<httplib::SSLServer>([tls](SSL_CTX& ctx) {
      SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
      tls->Attach(&ctx);
      return true;
    });
  if (!options.tls_cert.empty())
    return std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
  return std::make_unique<httplib::Server>();
}
}  // namespace

ApiServer::ApiServer(const ServerOptions& options, Deployer* deployer, Store* store, Authenticator* auth)
    : options_(options),
      tls_(options.certs.api_domain.empty() ? nullptr : std::make_unique<ApiTls>()),
      deployer_(deployer),
      store_(store),
      auth_(auth),
      http_(MakeServer(options, tls_.get())) {
  Routes();
}

ApiServer::~ApiServer() = default;

Status ApiServer::Bind(int* bound_port) {
  // With --api-domain the API is always TLS, like with --tls-cert.
  if (Status s = CheckListenPolicy(options_.listen, options_.tls_cert, options_.tls_key, options_.insecure || tls_ != nullptr); !s.ok())
    return s;
  if (!http_->is_valid())
    return Status::InvalidArgument("cannot load the TLS certificate " + options_.tls_cert + " or key " +
                                   options_.tls_key + " (PEM files, readable by bimd, key matching the cert)");
  size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument("--listen must be HOST:PORT (got \"" + options_.listen + "\")");
  std::string host = options_.listen.substr(0, colon);
  int port = std::atoi(options_.listen.c_str() + colon + 1);
  if (port == 0) {
    *bound_port = http_->bind_to_any_port(host);
  } else {
    *bound_port = http_->bind_to_port(host, port) ? port : -1;
  }
  if (*bound_port <= 0)
    return Status::Unavailable("cannot listen on " + options_.listen + " (in use? pick another with --listen)");
  return Status::OK();
}

void ApiServer::SetCertManager(CertManager* certs) { context_->certs = certs; }

void ApiServer::Serve() { http_->listen_after_bind(); }
void ApiServer::Stop() { http_->stop(); }

void ApiServer::Routes() {
  httplib::Server& http = *http_;
  // Streams (log follows, deploys) hold a thread each; the default pool of ~8 would starve.
  const size_t threads = static_cast<size_t>(options_.api_threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // The deploy upload's own limits (context + 1 MiB meta + multipart framing) are checked first, with
  // clear messages; this is only the backstop, so it must not be lower than those.
  http.set_payload_max_length(static_cast<size_t>(options_.max_upload_bytes) + (1 << 20) + (64 << 10));
  // Slow clients: a connection that sends nothing for read_timeout is dropped. Idle keep-alive
  // connections close after keep_alive_seconds. The request line and each header line are limited to 8 KiB by
  // cpp-httplib itself (compile-time CPPHTTPLIB_*_MAX_LENGTH in Debian's build; 414/400 beyond).
  http.set_read_timeout(options_.read_timeout_seconds, 0);
  http.set_write_timeout(options_.write_timeout_seconds, 0);
  http.set_keep_alive_timeout(options_.keep_alive_seconds);
  // Bodies: only the deploy upload may be large (it streams to disk under max_upload_bytes); every
  // other route is refused with 413 before its body is read when it announces more than
  // max_json_body_bytes, and chunked bodies (length unknown up front) are refused there too.
  // A build context's manifest may be larger than a JSON body (one line per file): its own limit.
  const int64_t max_json = options_.max_json_body_bytes;
  const int64_t max_manifest = options_.max_manifest_bytes;
  http.set_pre_routing_handler([max_json, max_manifest](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "POST" && req.path.ends_with("/deploy")) return httplib::Server::HandlerResponse::Unhandled;
    // A volume restore streams its archive to disk under max_upload_bytes too.
    if (req.method == "PUT" && req.path.ends_with("/restore")) return httplib::Server::HandlerResponse::Unhandled;
    const int64_t max = req.method == "POST" && req.path.ends_with("/contexts") ? max_manifest : max_json;
    bool chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
    uint64_t length = req.get_header_value<uint64_t>("Content-Length");
    if (!chunked && length <= static_cast<uint64_t>(max)) return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, Status::TooLarge(chunked ? "chunked request bodies are only accepted for deploys"
                                            : "request body is larger than " + std::to_string(max) + " bytes"));
    return httplib::Server::HandlerResponse::Handled;
  });

  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    // Method, path and status only: query strings and bodies may carry values we must not log.
    // The path is the client's (decoded): escaped, so it cannot forge log lines or reach a terminal.
    std::fprintf(stderr, "bimd: %s %s -> %d\n", EscapeTerminalText(req.method).c_str(),
                 EscapeTerminalText(req.path.substr(0, 1024)).c_str(), res.status);
  });

  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, nlohmann::json{{"ok", true}, {"service", "bimd"}});
  });

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
