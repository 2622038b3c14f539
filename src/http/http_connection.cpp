// One HTTP connection's life, plain or TLS (Connection<Stream>): headers -> checks -> body -> handler
// -> answer -> next request or close. Every step runs on the I/O thread with a deadline; handler
// threads reach the connection by posting to it (Blocking) and waiting for the result.
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <future>

#include "http/http_internal.h"

namespace bim {

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using beast::error_code;

constexpr size_t kPieceBytes = 16 << 10;  // body read size, and the largest piece handed to a handler
constexpr size_t kLingerBytes = 256 << 10;  // most a refused client's body is read (and dropped) before closing

template <class Stream>
class Connection final : public ConnectionBase,
                         public HttpExchange,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Connection(HttpServer::Impl& server, tcp::socket socket, std::shared_ptr<net::ssl::context> tls)
      : server_(server),
        tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        buffer_(static_cast<size_t>(server.options.max_header_bytes) + 1024),
        linger_timer_(stream_.get_executor()) {
    error_code ec;
    tcp::endpoint peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  void Start() override {
    SetPhase(Phase::kHeaders);
    deadline_ms_ = NowMs() + HeaderBudgetMs();
    if constexpr (kTls) {
      ExpireAt(deadline_ms_);
      stream_.async_handshake(net::ssl::stream_base::server, [self = Self()](const error_code& ec) {
        if (ec) return self->Close();
        self->ReadHeader(/*fresh_deadline=*/false);
      });
    } else {
      ReadHeader(/*fresh_deadline=*/false);
    }
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    SetPhase(Phase::kClosed);
    if (!handler_running_) EndRequest();
    linger_timer_.cancel();
    error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
    server_.Removed(this);
  }

  size_t BytesWaiting() override {
    error_code ec;
    size_t n = beast::get_lowest_layer(stream_).socket().available(ec);
    return ec ? 0 : n;
  }

  bool Streaming() const override { return handler_running_ && route_ != nullptr && !route_->options.stream.empty(); }

  // --- HttpExchange: called on the stream thread. ---

  Status ReadBody(const std::function<bool(std::string_view)>& on_data) override {
    for (;;) {
      std::string piece;
      Status s = Blocking<Status>([this, &piece](std::function<void(Status)> done) {
        if (closed_ || server_.stopping) return done(Status::Cancelled("the client went away"));
        ReadBodyPiece(NowMs() + server_.options.read_timeout_seconds * 1000LL,
                      [this, &piece, done](Status st, size_t n) {
                        if (st.ok()) piece.assign(scratch_.data(), n);
                        done(st);
                      });
      });
      if (!s.ok()) return s;
      if (piece.empty()) return Status::OK();  // the body ended
      if (!on_data(piece)) return Status::OK();
    }
  }

  bool BeginStream(const HttpResponse& head) override {
    return Blocking<bool>([this, head](std::function<void(bool)> done) {
      if (closed_ || server_.stopping) return done(false);
      auto msg = std::make_shared<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(head.status),
                                                                       parser_->get().version());
      msg->set(bhttp::field::content_type, head.content_type);
      for (const auto& [k, v] : head.headers) msg->insert(k, v);
      chunked_ = parser_->get().version() >= 11;
      msg->keep_alive(chunked_ && parser_->keep_alive());
      if (chunked_) msg->chunked(true);
      server_.Log(*req_, head.status);
      auto serializer = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*msg);
      ExpireIn(server_.options.write_timeout_seconds * 1000LL);
      bhttp::async_write_header(stream_, *serializer, [this, self = Self(), msg, serializer, done](const error_code& ec, size_t) {
        if (ec || closed_) {
          Close();
          return done(false);
        }
        streaming_ = true;
        done(true);
      });
    });
  }

  bool Write(std::string_view data) override {
    if (data.empty()) return !closed_;  // an empty chunk would end the body
    auto piece = std::make_shared<std::string>(data);
    return Blocking<bool>([this, piece](std::function<void(bool)> done) {
      if (closed_ || server_.stopping || !streaming_) return done(false);
      auto after = [this, self = Self(), piece, done](const error_code& ec, size_t) {
        if (ec || closed_) {
          Close();
          return done(false);
        }
        done(true);
      };
      ExpireIn(server_.options.write_timeout_seconds * 1000LL);
      if (chunked_) {
        net::async_write(stream_, bhttp::make_chunk(net::buffer(*piece)), after);
      } else {
        net::async_write(stream_, net::buffer(*piece), after);
      }
    });
  }

 private:
  static Stream MakeStream(tcp::socket socket, net::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<Connection> Self() { return this->shared_from_this(); }

  long long HeaderBudgetMs() const {
    return std::min<long long>(server_.options.header_timeout_ms, server_.options.read_timeout_seconds * 1000LL);
  }
  void ExpireAt(long long deadline_ms) { ExpireIn(deadline_ms - NowMs()); }
  void ExpireIn(long long ms) {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(std::max(1LL, ms)));
  }

  // Runs `op` on the I/O thread and waits for the value it passes to `done` (exactly once).
  template <class T>
  T Blocking(std::function<void(std::function<void(T)>)> op) {
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> result = promise->get_future();
    net::post(server_.io, [self = Self(), op = std::move(op), promise] {
      op([promise](T value) { promise->set_value(std::move(value)); });
    });
    return result.get();
  }

  // --- Request headers and checks. ---

  void ReadHeader(bool fresh_deadline) {
    if (closed_) return;
    if (server_.stopping) return Close();
    SetPhase(Phase::kHeaders);
    if (fresh_deadline) {
      deadline_ms_ = NowMs() + HeaderBudgetMs();
      served_ = true;  // the previous request was answered: idle keep-alive until the next head
    }
    head_started_ = false;
    req_ = std::make_shared<HttpRequest>();
    req_->remote = remote_;
    route_ = nullptr;
    streaming_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(boost::none);  // set per route once the headers are in
    ExpireAt(deadline_ms_);
    ReadHeaderSome();
  }

  // Reads the head piece by piece (what async_read_header does, but visible between pieces), so
  // eviction knows a connection whose head arrived in part and stalls from one not read yet.
  void ReadHeaderSome() {
    if (buffer_.size() > 0) {  // what arrived so far (or a pipelined request after the last answer)
      error_code ec;
      buffer_.consume(parser_->put(buffer_.data(), ec));
      if (ec == bhttp::error::need_more) ec = {};
      if (ec || parser_->is_header_done()) {
        head_started_ = false;
        return OnHeader(ec);  // complete (no error), or malformed / too large
      }
      head_started_ = true;
    }
    const size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) return OnHeader(bhttp::error::header_limit);
    stream_.async_read_some(buffer_.prepare(std::min<size_t>(room, 4096)), [self = Self()](error_code ec, size_t n) {
      if (self->closed_) return;
      self->buffer_.commit(n);
      if (ec) return self->OnHeader(ec);
      self->ReadHeaderSome();
    });
  }

  void OnHeader(const error_code& ec) {
    if (closed_) return;
    if (ec == beast::error::timeout) ++server_.stat_header_timeouts;
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
      return Refuse(Status::TooLarge("request headers are larger than " +
                                     std::to_string(server_.options.max_header_bytes) + " bytes"),
                    431);
    // Timeouts, resets and clients that went away get no answer: they would not read it.
    if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::operation_aborted)
      return Close();
    if (ec == bhttp::error::bad_transfer_encoding || ec == bhttp::error::bad_content_length ||
        ec == bhttp::error::multiple_content_length)
      return Refuse(Status::InvalidArgument(
          "conflicting or repeated Content-Length/Transfer-Encoding headers: a request may carry one "
          "Content-Length, or (deploys only) Transfer-Encoding: chunked, never both"));
    if (ec) return Refuse(Status::InvalidArgument("malformed HTTP request (" + ec.message() + ")"));
    CheckRequest();
  }

  void CheckRequest() {
    const auto& head = parser_->get();
    req_->method = std::string(head.method_string());
    req_->target = std::string(head.target());
    for (const auto& field : head) req_->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    std::string_view target = req_->target;
    if (target.empty() || target.front() != '/')
      return Refuse(Status::InvalidArgument("the request target must be a path starting with /"));
    size_t query = target.find('?');
    if (!PercentDecode(target.substr(0, query), false, &req_->path))
      return Refuse(Status::InvalidArgument("malformed %-escape in the request path"));
    if (query != std::string_view::npos) ParseQuery(target.substr(query + 1), &req_->params);

    int status = 404;
    route_ = server_.FindRoute(req_->method, req_->path, &req_->matches, &status);
    if (route_ == nullptr) {
      if (status == 405) return Refuse(Status::InvalidArgument(req_->method + " is not allowed on " + req_->path), 405);
      return Refuse(Status::NotFound("no such API route: " + req_->method + " " + req_->path));
    }
    const RouteOptions& options = route_->options;
    body_limit_ = options.max_body_bytes < 0 ? server_.options.max_body_bytes : options.max_body_bytes;

    // Body framing, checked before a byte of the body is read.
    size_t encodings = head.count(bhttp::field::transfer_encoding);
    if (encodings > 0) {
      if (!options.chunked_body)
        return Refuse(Status::InvalidArgument("send this request's body with a Content-Length: Transfer-Encoding is "
                                              "accepted only for deploy uploads"),
                      411);
      if (encodings > 1 || !beast::iequals(head[bhttp::field::transfer_encoding], "chunked"))
        return Refuse(Status::InvalidArgument("only Transfer-Encoding: chunked is accepted"));
      if (head.count(bhttp::field::content_length) > 0)
        return Refuse(Status::InvalidArgument("a request may not carry both Content-Length and Transfer-Encoding"));
    }
    if (auto length = parser_->content_length(); length && *length > static_cast<uint64_t>(body_limit_))
      return Refuse(TooLarge());

    if (route_->route.admit) {
      if (Status s = route_->route.admit(*req_); !s.ok()) return Refuse(s);
    }
    if (Status s = server_.Reserve(*req_, options); !s.ok()) return Refuse(s);
    reserved_ = true;
    parser_->body_limit(static_cast<uint64_t>(body_limit_));

    if (!parser_->is_done() && beast::iequals(head[bhttp::field::expect], "100-continue")) {
      auto go_on = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, head.version());
      ExpireIn(server_.options.write_timeout_seconds * 1000LL);
      bhttp::async_write(stream_, *go_on, [self = Self(), go_on](const error_code& ec, size_t) {
        if (self->closed_) return;
        if (ec) return self->Close();
        self->ReadBodyOrDispatch();
      });
      return;
    }
    ReadBodyOrDispatch();
  }

  Status TooLarge() const {
    const std::string& message = route_->options.body_limit_message;
    return Status::TooLarge(!message.empty() ? message
                                             : "request body is larger than " + std::to_string(body_limit_) + " bytes");
  }

  // --- Body. ---

  void ReadBodyOrDispatch() {
    if (route_->options.streamed_body || parser_->is_done()) return Dispatch();
    SetPhase(Phase::kBody);
    deadline_ms_ = NowMs() + server_.options.read_timeout_seconds * 1000LL;  // the whole body, not per read
    if (auto length = parser_->content_length()) req_->body.reserve(static_cast<size_t>(*length));
    ReadBufferedBody();
  }

  void ReadBufferedBody() {
    ReadBodyPiece(deadline_ms_, [this, self = Self()](Status s, size_t n) {
      if (closed_) return;
      if (!s.ok()) return s.code() == Code::kDeadlineExceeded || s.code() == Code::kCancelled ? Close() : Refuse(s);
      req_->body.append(scratch_.data(), n);
      if (parser_->is_done()) return Dispatch();
      ReadBufferedBody();
    });
  }

  // Reads the next piece of the body into scratch_ and calls done(OK, n), n == 0 only when the body
  // has ended; or done(error, 0).
  void ReadBodyPiece(long long deadline_ms, std::function<void(Status, size_t)> done) {
    if (parser_->is_done()) return done(Status::OK(), 0);
    scratch_.resize(kPieceBytes);
    parser_->get().body().data = scratch_.data();
    parser_->get().body().size = scratch_.size();
    ExpireAt(deadline_ms);
    bhttp::async_read_some(stream_, buffer_, *parser_,
                           [this, self = Self(), deadline_ms, done = std::move(done)](error_code ec, size_t) mutable {
                             if (ec == bhttp::error::need_buffer) ec = {};
                             size_t n = scratch_.size() - parser_->get().body().size;
                             if (ec) return done(BodyError(ec), 0);
                             if (n == 0 && !parser_->is_done()) return ReadBodyPiece(deadline_ms, std::move(done));
                             done(Status::OK(), n);
                           });
  }

  Status BodyError(const error_code& ec) const {
    if (ec == bhttp::error::body_limit) return TooLarge();
    if (ec == beast::error::timeout)
      return Status::DeadlineExceeded("the client sent the request body too slowly (read timeout " +
                                      std::to_string(server_.options.read_timeout_seconds) + " s)");
    if (ec == net::error::operation_aborted) return Status::Cancelled("the connection was closed");
    if (ec == bhttp::error::partial_message || ec == net::error::eof || ec == bhttp::error::end_of_stream ||
        ec == net::error::connection_reset)
      return Status::InvalidArgument("the request body was cut off");
    return Status::InvalidArgument("malformed request body (" + ec.message() + ")");
  }

  // --- Handlers. ---

  void Dispatch() {
    SetPhase(Phase::kHandler);
    handler_running_ = true;
    auto self = Self();
    if (!route_->options.stream.empty()) {
      server_.RunStreamThread([self] { self->RunHandler(/*stream=*/true); });
      return;
    }
    if (!server_.workers->Submit([self] { self->RunHandler(/*stream=*/false); }, req_->privileged)) {
      handler_running_ = false;
      Refuse(Status::Unavailable("bimd is busy (" + std::to_string(server_.options.max_queued_requests) +
                                 " requests queued); retry shortly"));
    }
  }

  // On a worker (short routes) or the stream's own thread.
  void RunHandler(bool stream) {
    auto res = std::make_shared<HttpResponse>();
    if (stream) req_->exchange = res->exchange = this;
    try {
      route_->route.handler(*req_, *res);
    } catch (const std::exception& e) {
      if (!res->streaming()) {
        *res = HttpResponse();
        server_.WriteError(*res, Status::Internal(std::string("unexpected error: ") + e.what()));
      }
    }
    net::post(server_.io, [self = Self(), res] { self->HandlerDone(*res); });
  }

  void HandlerDone(HttpResponse& res) {
    handler_running_ = false;
    EndRequest();
    if (closed_) return;
    bool keep = parser_->keep_alive() && parser_->is_done() && !server_.stopping;
    if (!res.streaming()) {
      server_.Log(*req_, res.status);
      return SendResponse(res, keep, /*linger=*/!parser_->is_done());
    }
    if (!streaming_ || !chunked_ || res.aborted()) return Close();  // an aborted body never gets its last chunk
    SetPhase(Phase::kWriting);
    ExpireIn(server_.options.write_timeout_seconds * 1000LL);
    net::async_write(stream_, bhttp::make_chunk_last(), [self = Self(), keep](const error_code& ec, size_t) {
      if (self->closed_) return;
      if (ec || !keep) return self->Close();
      self->ReadHeader(/*fresh_deadline=*/true);
    });
  }

  // Releases the request's place in the caps (once).
  void EndRequest() {
    if (!reserved_) return;
    reserved_ = false;
    server_.Release(req_->client, route_->options.stream);
  }

  // --- Answers. ---

  // Answers `error` now and closes (after lingering if the body was not read).
  void Refuse(const Status& error, int http_status = 0) {
    EndRequest();
    HttpResponse res;
    server_.WriteError(res, error, http_status);
    server_.Log(*req_, res.status);
    bool body_unread = !parser_->is_header_done() || !parser_->is_done();
    SendResponse(res, /*keep=*/false, body_unread);
  }

  void SendResponse(HttpResponse& res, bool keep, bool linger) {
    SetPhase(Phase::kWriting);
    unsigned version = parser_->is_header_done() ? parser_->get().version() : 11;
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(res.status), version);
    msg->set(bhttp::field::content_type, res.content_type);
    for (const auto& [k, v] : res.headers) msg->insert(k, v);
    msg->body() = std::move(res.body);
    msg->keep_alive(keep);
    msg->prepare_payload();
    ExpireIn(server_.options.write_timeout_seconds * 1000LL);
    bhttp::async_write(stream_, *msg, [self = Self(), msg, keep, linger](const error_code& ec, size_t) {
      if (self->closed_) return;
      if (ec) return self->Close();
      if (keep) return self->ReadHeader(/*fresh_deadline=*/true);
      if (linger) return self->Linger();
      self->Close();
    });
  }

  // After an answer sent before the body was read: read and drop what the client still sends, for
  // a while, so closing does not reset the connection under the answer before the client read it.
  void Linger() {
    SetPhase(Phase::kLinger);
    buffer_.consume(buffer_.size());
    if constexpr (!kTls) {
      error_code ec;
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    deadline_ms_ = NowMs() + server_.options.linger_ms;
    Drain(kLingerBytes);
  }

  // Reads into the server's one drain buffer, as much as the socket holds at once (up to the whole
  // budget): a flood of refused bodies costs a read or two per connection, not one per 16 KiB.
  void Drain(size_t budget) {
    if (server_.drain.empty()) server_.drain.resize(kLingerBytes);
    ExpireAt(deadline_ms_);
    auto into = net::buffer(server_.drain.data(), std::min(budget, server_.drain.size()));
    stream_.async_read_some(into, [self = Self(), budget](const error_code& ec, size_t n) {
      if (self->closed_) return;
      if (ec) return self->Close();
      if (n >= budget) return self->AwaitHangUp();
      self->Drain(budget - n);
    });
  }

  // The drain budget is spent and the client still sends. Closing now, with its bytes unread, would
  // reset the connection, and a client still busy sending (curl, bim) would lose the answer to that
  // reset. So stop reading instead: its sends stall on full buffers, it turns to read the answer and
  // hangs up. Close when it does (seen as an error/hang-up on the socket) or when the linger time ends,
  // whichever comes first; waiting costs no reads.
  void AwaitHangUp() {
    linger_timer_.expires_at(std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(1LL, deadline_ms_ - NowMs())));
    linger_timer_.async_wait([self = Self()](const error_code&) {
      if (!self->closed_) self->Close();
    });
    beast::get_lowest_layer(stream_).socket().async_wait(tcp::socket::wait_error, [self = Self()](const error_code&) {
      if (!self->closed_) self->Close();
    });
  }

  HttpServer::Impl& server_;
  std::shared_ptr<net::ssl::context> tls_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::string remote_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::shared_ptr<HttpRequest> req_;
  const RouteEntry* route_ = nullptr;
  int64_t body_limit_ = 0;
  std::string scratch_;
  long long deadline_ms_ = 0;
  net::steady_timer linger_timer_;  // AwaitHangUp's end of the linger time
  bool reserved_ = false;         // the request counts against its client's caps
  bool handler_running_ = false;  // a worker or stream thread holds req_
  bool closed_ = false;
  bool streaming_ = false;        // a stream's head went out
  bool chunked_ = true;           // the stream's body is chunked (HTTP/1.1)
};

}  // namespace

std::shared_ptr<ConnectionBase> MakeConnection(HttpServer::Impl& server, tcp::socket socket,
                                               std::shared_ptr<net::ssl::context> tls) {
  if (tls) {
    return std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(server, std::move(socket), std::move(tls));
  }
  return std::make_shared<Connection<beast::tcp_stream>>(server, std::move(socket), nullptr);
}

}  // namespace bim
