#include "server/api.h"

#include <httplib.h>

#include <cstdio>

#include "server/api_context.h"

namespace bim {

ApiServer::ApiServer(const ServerOptions& options, Deployer* deployer, Store* store, Authenticator* auth)
    : options_(options), deployer_(deployer), store_(store), auth_(auth), http_(std::make_unique<httplib::Server>()) {
  Routes();
}

ApiServer::~ApiServer() = default;

Status ApiServer::Bind(int* bound_port) {
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

void ApiServer::Serve() { http_->listen_after_bind(); }
void ApiServer::Stop() { http_->stop(); }

void ApiServer::Routes() {
  httplib::Server& http = *http_;
  // Streams (log follows, deploys) hold a thread each; the default pool of ~8 would starve.
  http.new_task_queue = [] { return new httplib::ThreadPool(64); };
  http.set_payload_max_length(static_cast<size_t>(options_.max_upload_bytes) + (1 << 20));
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);

  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    // Method, path and status only: query strings and bodies may carry values we must not log.
    std::fprintf(stderr, "bimd: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });

  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, nlohmann::json{{"ok", true}, {"service", "bimd"}});
  });

  context_ = std::make_unique<ApiContext>(ApiContext{options_, http, *deployer_, *store_, *auth_});
  RegisterAppRoutes(*context_);
  RegisterReleaseRoutes(*context_);
  RegisterSecurityRoutes(*context_);
  RegisterHistoryRoutes(*context_);
}

}  // namespace bim
