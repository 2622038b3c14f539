// Certificate checks for HTTPS: what a PEM certificate chain covers and whether a key belongs to it.
// Used before anything changes, both for certificates an ACME CA issued and for ones a user uploads
// with `bim certs add`, so a certificate that would make nginx refuse its config (or serve the wrong
// names) never reaches it. Pure functions over PEM text (OpenSSL); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

struct CertificateInfo {
  std::vector<std::string> names;  // DNS names of the leaf (subjectAltName; the CN if it has none)
  int64_t not_before_ms = 0;
  int64_t not_after_ms = 0;
  std::string subject;             // one-line forms, for messages
  std::string issuer;
};

// Parses `chain_pem` (the leaf first, then intermediates) and checks `key_pem`: the key must parse
// and match the leaf, every certificate of the chain must be issued (and signed) by the next one, and
// the leaf must be valid at `now_ms`. On success fills *out. On failure InvalidArgument naming the
// problem ("the key does not match the certificate", "certificate 2 of the chain did not issue
// certificate 1", "the certificate expired on 2026-01-01 ...").
Status CheckCertificate(std::string_view chain_pem, std::string_view key_pem, int64_t now_ms,
                        CertificateInfo* out);

// Whether certificate name `pattern` ("shop.example.com" or "*.example.com") covers host `name`. A
// wildcard covers exactly one label ("a.example.com", not "example.com" or "a.b.example.com").
bool CertificateNameCovers(std::string_view pattern, std::string_view name);

// A throwaway self-signed certificate (EC P-256, 10 years) for `name`, as PEM. For a TLS listener
// that must present something before it knows which certificate a client wants.
Status MakeSelfSignedCertificate(const std::string& name, std::string* cert_pem, std::string* key_pem);

// The first of `names` that no name in `covered` covers, or "" if all are covered.
std::string FirstUncoveredName(const std::vector<std::string>& covered, const std::vector<std::string>& names);

// "2026-11-27 15:40 UTC" for milliseconds since the epoch; "-" for 0 (never).
std::string FormatUtcMinute(int64_t ms);

}  // namespace bim
