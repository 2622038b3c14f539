// HttpServerOptions: every limit of bimd's HTTP layer, with its default, in one place. bimd's
// ServerOptions holds one of these (`options.http`); its flags fill it; tests fill it directly.
//
// What the limits protect: one I/O thread reads every connection's headers without a thread of its
// own, so a client that trickles bytes costs one socket and a small buffer, never a worker. A request
// is answered or refused when its headers are complete, before any of its body is read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

struct ssl_ctx_st;

namespace bim {

struct HttpServerOptions {
  // TLS: both set = every connection is HTTPS (PEM files; the chain file may hold intermediates).
  std::string tls_cert;
  std::string tls_key;
  // TLS with a certificate the caller picks (e.g. per handshake, for renewals without a restart):
  // when set and tls_cert is empty, every connection is HTTPS and this is called once, at Bind(), on
  // the server's SSL_CTX (TLS 1.2+ already set) to install the certificate or a certificate callback.
  // Whatever it attaches must outlive the server.
  std::function<void(ssl_ctx_st* ctx)> tls_attach;

  // Open connections, all states. At the cap a new connection evicts a connection that holds no
  // request and is known to be slow or idle: lingering after a refusal first, then, longest waiting
  // first, one whose head arrived only in part, an idle keep-alive one, or one silent for 250 ms since
  // its accept. A connection whose complete head merely awaits the I/O thread is never evicted. If none
  // qualifies, the new connection (and accepting) waits until one does; after header_timeout_ms of
  // that it is closed.
  int max_connections = 1024;
  // Total time from a connection's start (or the end of its previous response) to the end of a
  // request's headers, TLS handshake included. Never more than read_timeout_seconds.
  int header_timeout_ms = 10000;
  // Request line plus headers, in bytes (431 beyond).
  int64_t max_header_bytes = 16 << 10;
  // A client silent this long while sending a body is dropped; a buffered body must arrive whole
  // within it.
  int read_timeout_seconds = 30;
  // A response (or one streamed piece of it) the client does not take within this is dropped.
  int write_timeout_seconds = 30;
  // Body of a route that sets no limit of its own (413 beyond, refused from Content-Length before
  // reading). Transfer-Encoding is refused on every route that does not accept chunked bodies.
  int64_t max_body_bytes = 1 << 20;
  // After refusing a request whose body was not read, the connection reads and discards for at most
  // this long (and at most 256 KiB) before closing, so the client sees the answer rather than a reset.
  int linger_ms = 2000;

  // Short requests run on `workers` threads. At most `max_queued_requests` wait; beyond, 503. Requests
  // of privileged clients (admin-level tokens) go ahead of the others in the queue.
  int workers = 8;
  int max_queued_requests = 256;
  // Short requests one (non-privileged) client may have waiting or running at once; beyond, 429.
  int max_requests_per_client = 4;

  // Long-lived responses (deploy progress, log follows) each run on a thread of their own, never on
  // a worker. At most `max_streams` at once (503 beyond), and per non-privileged client at most
  // max_streams_per_client[class] of one stream class (429 beyond; a class not listed has no
  // per-client cap).
  int max_streams = 64;
  std::map<std::string, int> max_streams_per_client;
};

}  // namespace bim
