#include "server/api_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "base/certificate.h"
#include "base/file_util.h"

namespace bim {

struct ApiTls::Current {
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = nullptr;  // intermediates, without the leaf
  EVP_PKEY* key = nullptr;
  ~Current() {
    if (leaf) X509_free(leaf);
    if (chain) sk_X509_pop_free(chain, X509_free);
    if (key) EVP_PKEY_free(key);
  }
};

ApiTls::ApiTls() = default;
ApiTls::~ApiTls() = default;

void ApiTls::Attach(ssl_ctx_st* ctx) { SSL_CTX_set_cert_cb(ctx, &ApiTls::OnHandshake, this); }

std::shared_ptr<const ApiTls::Current> ApiTls::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

int ApiTls::OnHandshake(ssl_st* ssl, void* self) {
  std::shared_ptr<const Current> c = static_cast<ApiTls*>(self)->current();
  if (!c) return 0;  // nothing to present: the handshake fails
  // Each call takes its own references: the session keeps them after `c` is replaced.
  if (SSL_use_certificate(ssl, c->leaf) != 1 || SSL_use_PrivateKey(ssl, c->key) != 1 ||
      SSL_set1_chain(ssl, c->chain) != 1)
    return 0;
  return 1;
}

Status ApiTls::Use(const std::string& chain_pem, const std::string& key_pem, const std::string& what) {
  // The same checks as every certificate bimd serves (parses, key matches, chain links, dates).
  CertificateInfo info;
  if (Status s = CheckCertificate(chain_pem, key_pem, NowMillis(), &info); !s.ok()) return s.Wrap("the API certificate");
  auto next = std::make_shared<Current>();
  BIO* certs = BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()));
  next->leaf = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr);
  next->chain = sk_X509_new_null();
  while (X509* more = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr)) sk_X509_push(next->chain, more);
  BIO_free(certs);
  BIO* key = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  next->key = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
  BIO_free(key);
  ERR_clear_error();  // the loop above ends on "no start line"
  if (!next->leaf || !next->key) return Status::InvalidArgument("the API certificate or key is not PEM");
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(next);
  serving_ = what;
  return Status::OK();
}

Status ApiTls::UseFiles(const std::string& cert_path, const std::string& key_path, const std::string& what) {
  std::string chain, key;
  if (Status s = ReadFile(cert_path, &chain); !s.ok()) return s;
  if (Status s = ReadFile(key_path, &key); !s.ok()) return s;
  return Use(chain, key, what);
}

Status ApiTls::UseSelfSigned(const std::string& name, const std::string& dir) {
  const std::string cert_path = dir + "/self-signed.crt", key_path = dir + "/self-signed.key";
  std::string chain, key;
  CertificateInfo info;
  bool reusable = ReadFile(cert_path, &chain).ok() && ReadFile(key_path, &key).ok() &&
                  CheckCertificate(chain, key, NowMillis(), &info).ok() && FirstUncoveredName(info.names, {name}).empty();
  if (!reusable) {
    Status s = MakeSelfSignedCertificate(name, &chain, &key);
    if (s.ok()) s = MakeDirs(dir, 0700);
    if (s.ok()) s = WriteFileAtomically(key_path, key, 0600);
    if (s.ok()) s = WriteFileAtomically(cert_path, chain, 0600);
    if (!s.ok()) return s.Wrap("making the API's self-signed certificate");
  }
  return Use(chain, key, "self-signed");
}

std::string ApiTls::serving() const {
  std::lock_guard<std::mutex> lock(mu_);
  return serving_;
}

}  // namespace bim
