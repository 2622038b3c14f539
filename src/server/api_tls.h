// ApiTls: the certificate bimd's API serves when bimd obtains it itself (`bimd --api-domain NAME`),
// swappable while the API runs. Each new TLS handshake takes the certificate that is current at that
// moment (OpenSSL's certificate callback on the API's SSL_CTX); connections already open keep the one
// they were made with. So installing a renewed certificate needs no restart and drops no request.
//
// Until the ACME CA has issued one (first start, CA down, DNS not pointing here yet) the API serves a
// self-signed certificate for NAME, kept in `<dir>/self-signed.{crt,key}` (bimd: <data>/api-self-signed)
// so it stays the same across restarts (a client on the machine may trust it with BIM_CA_CERT in the meantime); `bim server` says
// which one is served and why.
//
// Thread-safety: Use/UseFiles/serving may be called from any thread, concurrently with handshakes.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"

struct ssl_ctx_st;
struct ssl_st;

namespace bim {

class ApiTls {
 public:
  ApiTls();
  ~ApiTls();
  ApiTls(const ApiTls&) = delete;
  ApiTls& operator=(const ApiTls&) = delete;

  // Makes `ctx` take the current certificate for every handshake. Call once, before serving; this
  // object must outlive the context's connections.
  void Attach(ssl_ctx_st* ctx);

  // Parses the PEM chain (leaf first) and key and serves them to new handshakes. On failure
  // (unparsable, key not matching) the current certificate stays and the error says what is wrong.
  // `what` is what `serving()` reports afterwards ("acme", "self-signed").
  Status Use(const std::string& chain_pem, const std::string& key_pem, const std::string& what);
  Status UseFiles(const std::string& cert_path, const std::string& key_path, const std::string& what);

  // Serves the self-signed certificate for `name` kept in `dir` (made, 0600, if missing or not for
  // `name`).
  Status UseSelfSigned(const std::string& name, const std::string& dir);

  // "acme", "self-signed", or "" before any certificate.
  std::string serving() const;

 private:
  struct Current;
  static int OnHandshake(ssl_st* ssl, void* self);
  std::shared_ptr<const Current> current() const;

  mutable std::mutex mu_;
  std::shared_ptr<const Current> current_;
  std::string serving_;
};

}  // namespace bim
