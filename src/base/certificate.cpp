#include "base/certificate.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

namespace bim {

namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string OneLine(const X509_NAME* name) {
  char buf[512];
  X509_NAME_oneline(name, buf, sizeof buf);
  return buf;
}

int64_t ToMillis(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::vector<std::string> DnsNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = gn->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) names.push_back(cn);
  }
  for (auto& n : names)
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return names;
}

}  // namespace

Status CheckCertificate(std::string_view chain_pem, std::string_view key_pem, int64_t now_ms, CertificateInfo* out) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  std::vector<X509Ptr> chain;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) chain.emplace_back(x);
  ERR_clear_error();
  if (chain.empty())
    return Status::InvalidArgument("the certificate file holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)");

  std::unique_ptr<BIO, BioFree> kbio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key)
    return Status::InvalidArgument("the key file holds no unencrypted PEM private key (expected -----BEGIN ... PRIVATE KEY-----)");
  if (X509_check_private_key(chain[0].get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("the key does not match the certificate (pass the key the certificate was issued for)");
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    X509* child = chain[i].get();
    X509* parent = chain[i + 1].get();
    EVP_PKEY* parent_key = X509_get0_pubkey(parent);
    if (X509_check_issued(parent, child) != X509_V_OK || !parent_key || X509_verify(child, parent_key) != 1) {
      ERR_clear_error();
      return Status::InvalidArgument("certificate " + std::to_string(i + 2) + " of the chain did not issue certificate " +
                                     std::to_string(i + 1) + " (order the file: the server's certificate first, then each issuer)");
    }
  }
  CertificateInfo info;
  info.names = DnsNames(chain[0].get());
  info.not_before_ms = ToMillis(X509_get0_notBefore(chain[0].get()));
  info.not_after_ms = ToMillis(X509_get0_notAfter(chain[0].get()));
  info.subject = OneLine(X509_get_subject_name(chain[0].get()));
  info.issuer = OneLine(X509_get_issuer_name(chain[0].get()));
  if (info.names.empty()) return Status::InvalidArgument("the certificate names no DNS name");
  if (now_ms >= info.not_after_ms)
    return Status::InvalidArgument("the certificate expired on " + FormatUtcMinute(info.not_after_ms) + " (renew it)");
  if (now_ms < info.not_before_ms)
    return Status::InvalidArgument("the certificate is not valid before " + FormatUtcMinute(info.not_before_ms));
  *out = std::move(info);
  return Status::OK();
}

Status MakeSelfSignedCertificate(const std::string& name, std::string* cert_pem, std::string* key_pem) {
  std::unique_ptr<EVP_PKEY, KeyFree> key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return Status::Internal("OpenSSL could not make a key");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    ERR_clear_error();
    return Status::Internal("OpenSSL could not sign a certificate");
  }
  auto pem = [](auto write) {
    std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
    write(out.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(n));
  };
  *cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, cert.get()); });
  *key_pem = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  return Status::OK();
}

bool CertificateNameCovers(std::string_view pattern, std::string_view name) {
  if (pattern == name) return true;
  if (!pattern.starts_with("*.")) return false;
  std::string_view suffix = pattern.substr(1);  // ".example.com"
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
  std::string_view label = name.substr(0, name.size() - suffix.size());
  return label.find('.') == std::string_view::npos;
}

std::string FirstUncoveredName(const std::vector<std::string>& covered, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    bool ok = false;
    for (const auto& c : covered) ok |= CertificateNameCovers(c, name);
    if (!ok) return name;
  }
  return "";
}

std::string FormatUtcMinute(int64_t ms) {
  if (ms <= 0) return "-";
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace bim
