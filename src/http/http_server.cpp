// HttpServer: accepting (with eviction at the connection cap), routing, per-client caps, TLS loading
// and stopping. One connection's life is in http_connection.cpp.
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <thread>

#include "http/http_internal.h"

namespace bim {

namespace {
// Connections taken from the backlog per turn of the event loop, at most: enough that an admin's
// connection queued behind a flood's reconnects is reached within a few turns, few enough (a quarter
// of the connection cap) that read completions and the poller run between batches. A fresh
// connection is never evicted (EvictableNow) and a newcomer that finds no room waits (below), so a
// large batch cannot push out a request that was not read yet.
int AcceptBatch(const HttpServerOptions& o) { return std::clamp(o.max_connections / 4, 1, 64); }
// A newcomer that finds the table full of connections that may not be evicted waits this long
// before the next look (sooner when a connection closes).
constexpr auto kRoomRetry = std::chrono::milliseconds(5);
// A connection that has sent nothing at all is not taken for slow before this (see EvictableNow).
long long SilentGraceMs(const HttpServerOptions& o) { return std::min(250, std::max(1, o.header_timeout_ms / 2)); }
constexpr size_t kEvictionProbes = 32;  // oldest candidates checked for an unread request
}  // namespace

HttpServer::Impl::Impl(HttpServerOptions o) : options(std::move(o)) {}

const RouteEntry* HttpServer::Impl::FindRoute(const std::string& method, const std::string& path,
                                              std::vector<std::string>* matches, int* status) const {
  *status = 404;
  for (const RouteEntry& r : routes) {
    std::smatch m;
    if (!std::regex_match(path, m, r.pattern)) continue;
    if (r.method != method) {
      *status = 405;
      continue;
    }
    matches->clear();
    for (const auto& group : m) matches->push_back(group.str());
    return &r;
  }
  return nullptr;
}

Status HttpServer::Impl::Reserve(const HttpRequest& req, const RouteOptions& route) {
  Status s = TryReserve(req, route);
  auto it = clients.find(req.client);
  if (!s.ok() && it != clients.end() && it->second.requests <= 0 && it->second.streams.empty()) clients.erase(it);
  return s;
}

Status HttpServer::Impl::TryReserve(const HttpRequest& req, const RouteOptions& route) {
  ClientLoad& load = clients[req.client];
  const std::string who = req.client.empty() ? "anonymous clients" : "\"" + req.client + "\"";
  if (route.stream.empty()) {
    if (!req.privileged && load.requests >= options.max_requests_per_client)
      return Status::ResourceExhausted(who + " already has " + std::to_string(load.requests) +
                                       " requests in progress (the most allowed); retry when they finish");
    ++load.requests;
    return Status::OK();
  }
  if (streams >= options.max_streams)
    return Status::Unavailable("bimd is serving its maximum of " + std::to_string(options.max_streams) +
                               " streams (deploys and log follows); retry shortly");
  auto cap = options.max_streams_per_client.find(route.stream);
  int& mine = load.streams[route.stream];
  if (!req.privileged && cap != options.max_streams_per_client.end() && mine >= cap->second) {
    if (mine == 0) load.streams.erase(route.stream);
    return Status::ResourceExhausted(who + " already has " + std::to_string(mine) + " " + route.stream +
                                     " in progress (the most allowed per token); wait for one to end");
  }
  ++mine;
  ++streams;
  stat_streams = streams;
  return Status::OK();
}

void HttpServer::Impl::Release(const std::string& client, const std::string& stream_class) {
  auto it = clients.find(client);
  if (it == clients.end()) return;
  ClientLoad& load = it->second;
  if (stream_class.empty()) {
    --load.requests;
  } else {
    if (--load.streams[stream_class] <= 0) load.streams.erase(stream_class);
    --streams;
    stat_streams = streams;
  }
  if (load.requests <= 0 && load.streams.empty()) clients.erase(it);  // the map stays as small as the load
}

void HttpServer::Impl::RunStreamThread(std::function<void()> fn) {
  ++stream_threads;
  std::thread([this, fn = std::move(fn)]() mutable {
    fn();
    fn = nullptr;  // drops the connection before the server may finish stopping
    // The count drops on the I/O thread, so Serve() cannot return while this thread still posts.
    net::post(io, [this] {
      --stream_threads;
      MaybeFinishStop();
    });
  }).detach();
}

void HttpServer::Impl::Removed(ConnectionBase* c) {
  for (auto it = connections.begin(); it != connections.end(); ++it) {
    if (it->get() != c) continue;
    // The list's reference goes last, after the connection's own handlers; release it later on
    // this thread so the caller (a method of `c`) does not run on a destroyed object.
    net::post(io, [keep = std::move(*it)] {});
    connections.erase(it);
    if (parked) park_timer.cancel();  // room for the newcomer waiting in WaitForRoom
    break;
  }
  stat_connections = static_cast<int>(connections.size());
  MaybeFinishStop();
}

void HttpServer::Impl::WriteError(HttpResponse& res, const Status& error, int http_status) const {
  if (error_writer) {
    error_writer(res, error);
  } else {
    res.SetContent(error.message() + "\n", "text/plain");
  }
  res.status = http_status != 0 ? http_status : error.HttpStatus();
}

void HttpServer::Impl::Log(const HttpRequest& req, int status) const {
  if (logger) logger(req, status);
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors (or a transient error): pause instead of spinning on the error.
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const boost::system::error_code& wait_ec) {
        if (!wait_ec && !stopping) Accept();
      });
      return;
    }
    if (!OnAccepted(std::move(socket))) return;  // parked: accepting resumes when there is room
    // Take whatever else waits in the backlog now, not one connection per turn of the event loop:
    // under a flood the backlog fills with the flood's reconnects, and an admin's connection queued
    // behind them would otherwise wait for hundreds of turns.
    for (int i = 1; i < AcceptBatch(options) && !stopping; ++i) {
      boost::system::error_code more_ec;
      tcp::socket more = acceptor.accept(more_ec);
      if (more_ec) break;
      if (!OnAccepted(std::move(more))) return;
    }
    Accept();
  });
}

bool HttpServer::Impl::MakeRoom() {
  if (static_cast<int>(connections.size()) < options.max_connections) return true;
  // Drop a connection without a request in progress that is known to be slow or idle (a slow client
  // is the one that loses, never a request being served or one not read yet): one lingering after a
  // refusal if any, else the one that has waited longest, passing over those with bytes unread in
  // the socket while it can.
  const long long now = NowMs(), grace = SilentGraceMs(options);
  std::vector<ConnectionBase*> evictable;
  ConnectionBase* victim = nullptr;
  for (const auto& c : connections) {
    if (!c->EvictableNow(now, grace)) continue;
    if (c->Lingering() && (victim == nullptr || c->phase_since_ms() < victim->phase_since_ms())) victim = c.get();
    evictable.push_back(c.get());
  }
  if (victim == nullptr && !evictable.empty()) {
    std::sort(evictable.begin(), evictable.end(),
              [](ConnectionBase* a, ConnectionBase* b) { return a->phase_since_ms() < b->phase_since_ms(); });
    victim = evictable.front();
    for (size_t i = 0; i < evictable.size() && i < kEvictionProbes; ++i)
      if (evictable[i]->BytesWaiting() == 0) {
        victim = evictable[i];
        break;
      }
  }
  if (victim == nullptr) return false;
  ++stat_evicted;
  victim->Close();
  return true;
}

bool HttpServer::Impl::OnAccepted(tcp::socket socket) {
  if (!MakeRoom()) {
    // Every connection is busy or too fresh to call slow: this one waits (and accepting with it)
    // until one closes or turns evictable, which the silent grace bounds. Closing it instead could
    // drop an admin's connection unanswered; the rest of the flood waits in the kernel's backlog.
    parked.emplace(std::move(socket));
    parked_since_ms = NowMs();
    WaitForRoom();
    return false;
  }
  Place(std::move(socket));
  return true;
}

void HttpServer::Impl::WaitForRoom() {
  park_timer.expires_after(kRoomRetry);
  park_timer.async_wait([this](const boost::system::error_code&) {  // cancelled = a connection closed: look now
    if (!parked) return;
    if (stopping) {
      boost::system::error_code ignored;
      parked->close(ignored);
      parked.reset();
      return MaybeFinishStop();
    }
    if (MakeRoom()) {
      Place(std::move(*parked));
      parked.reset();
      return Accept();
    }
    if (NowMs() - parked_since_ms >= options.header_timeout_ms) {  // it would have timed out inside too
      ++stat_refused;
      boost::system::error_code ignored;
      parked->close(ignored);
      parked.reset();
      return Accept();
    }
    WaitForRoom();
  });
}

void HttpServer::Impl::Place(tcp::socket socket) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto connection = MakeConnection(*this, std::move(socket), tls);
  connections.push_back(connection);
  stat_connections = static_cast<int>(connections.size());
  connection->Start();
}

void HttpServer::Impl::BeginStop() {
  if (stopping) return;
  stopping = true;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  park_timer.cancel();  // a parked newcomer is closed by its timer's handler
  // Connections without a request in progress close now, and so do streams (their handlers see the
  // client as gone and end); short requests close after their answer.
  std::vector<ConnectionBase*> idle;
  for (const auto& c : connections)
    if (c->Evictable() || c->Streaming()) idle.push_back(c.get());
  for (ConnectionBase* c : idle) c->Close();
  MaybeFinishStop();
}

void HttpServer::Impl::MaybeFinishStop() {
  if (stopping && connections.empty() && stream_threads == 0 && !parked) keep_running.reset();
}

Status HttpServer::Impl::LoadTls(std::shared_ptr<net::ssl::context>* out) const {
  auto context = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                           net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                           net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                       ec);
  if (options.tls_cert.empty() && options.tls_attach) {  // the caller's certificate (callback)
    options.tls_attach(context->native_handle());
    *out = std::move(context);
    return Status::OK();
  }
  const std::string problem = "cannot load the TLS certificate " + options.tls_cert + " or key " + options.tls_key +
                              " (PEM files, readable by bimd, key matching the cert)";
  if (context->use_certificate_chain_file(options.tls_cert, ec); ec) return Status::InvalidArgument(problem);
  if (context->use_private_key_file(options.tls_key, net::ssl::context::pem, ec); ec)
    return Status::InvalidArgument(problem);
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) return Status::InvalidArgument(problem);
  *out = std::move(context);
  return Status::OK();
}

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() = default;

void HttpServer::Handle(const std::string& method, const std::string& pattern, HttpRoute route, RouteOptions options) {
  impl_->routes.push_back(RouteEntry{method, std::regex(pattern), std::move(route), std::move(options)});
}
void HttpServer::Get(const std::string& pattern, HttpRoute route, RouteOptions options) {
  Handle("GET", pattern, std::move(route), std::move(options));
}
void HttpServer::Post(const std::string& pattern, HttpRoute route, RouteOptions options) {
  Handle("POST", pattern, std::move(route), std::move(options));
}
void HttpServer::Put(const std::string& pattern, HttpRoute route, RouteOptions options) {
  Handle("PUT", pattern, std::move(route), std::move(options));
}
void HttpServer::Delete(const std::string& pattern, HttpRoute route, RouteOptions options) {
  Handle("DELETE", pattern, std::move(route), std::move(options));
}

void HttpServer::SetErrorWriter(std::function<void(HttpResponse&, const Status&)> writer) {
  impl_->error_writer = std::move(writer);
}
void HttpServer::SetLogger(std::function<void(const HttpRequest&, int)> logger) { impl_->logger = std::move(logger); }

Status HttpServer::Bind(const std::string& host, int port, int* bound_port) {
  Impl& s = *impl_;
  if (!s.options.tls_cert.empty() || !s.options.tls_key.empty() || s.options.tls_attach) {
    if (Status st = s.LoadTls(&s.tls); !st.ok()) return st;
  }
  boost::system::error_code ec;
  tcp::resolver resolver(s.io);
  auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  const std::string where = host + ":" + std::to_string(port);
  if (ec || endpoints.empty()) return Status::Unavailable("cannot resolve the listen address " + where);
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (!ec) s.acceptor.non_blocking(true, ec);  // Accept() drains the backlog without blocking
  if (ec) return Status::Unavailable("cannot listen on " + where + " (" + ec.message() + "; in use? pick another with --listen)");
  *bound_port = s.acceptor.local_endpoint().port();
  s.workers = std::make_unique<WorkQueue>(s.options.workers, s.options.max_queued_requests);
  return Status::OK();
}

Status HttpServer::ReloadTls() {
  Impl& s = *impl_;
  if (s.options.tls_cert.empty())
    return Status::FailedPrecondition(s.options.tls_attach ? "the API's certificate is managed by bimd (--api-domain); nothing to reload"
                                                           : "bimd serves plain HTTP; there is no certificate to reload");
  std::shared_ptr<net::ssl::context> fresh;
  if (Status st = s.LoadTls(&fresh); !st.ok()) return st;
  net::post(s.io, [&s, fresh] { s.tls = fresh; });
  return Status::OK();
}

void HttpServer::Serve() {
  Impl& s = *impl_;
  if (!s.acceptor.is_open() || !s.workers) return;
  s.keep_running.emplace(s.io.get_executor());
  net::post(s.io, [&s] {
    if (s.stop_requested) s.BeginStop();
  });
  s.Accept();
  s.io.run();
  s.workers->Shutdown();
}

void HttpServer::Stop() {
  impl_->stop_requested = true;
  net::post(impl_->io, [s = impl_.get()] { s->BeginStop(); });
}

HttpServer::Stats HttpServer::GetStats() const {
  return Stats{impl_->stat_connections, impl_->stat_streams, impl_->stat_evicted, impl_->stat_refused,
               impl_->stat_header_timeouts};
}

}  // namespace bim
