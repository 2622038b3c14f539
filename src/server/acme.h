// AcmeClient: obtains a certificate for some names from an ACME CA (Let's Encrypt, or any RFC 8555
// server) by HTTP-01. bim does not speak ACME itself: LegoClient runs Debian's `lego` through the
// CommandRunner seam. Its HTTP-01 responder listens on a loopback port while it runs, and the
// proxy forwards every app's /.well-known/acme-challenge/ there, so the CA's check reaches it
// through the same nginx that serves the app.
//
// Thread-safety: Obtain calls are serialised by the caller (CertManager runs one at a time), since
// they share one ACME account directory.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/command_runner.h"
#include "core/status.h"

namespace bim {

struct AcmeOptions {
  std::string email;                 // the ACME account's contact; "" = ACME is off
  // Let's Encrypt production. Staging (untrusted certificates, high rate limits) for trying things:
  // https://acme-staging-v02.api.letsencrypt.org/directory
  std::string directory = "https://acme-v02.api.letsencrypt.org/directory";
  std::string ca_file;               // PEM roots to trust for the directory's TLS ("" = the system's)
  std::string lego_binary = "lego";
  std::string state_dir;             // account and issued files (under bimd's data dir)
  std::string challenge_listen;      // "127.0.0.1:PORT": where lego answers HTTP-01 while it runs
  std::chrono::seconds timeout{120}; // one issuance, all names
};

class AcmeClient {
 public:
  virtual ~AcmeClient() = default;
  // Obtains a certificate covering every one of `names` (a new key each time). On success fills the
  // PEM chain (leaf first) and key. On failure the error carries the CA's reason (e.g. "acme: error:
  // 400 :: urn:ietf:params:acme:error:connection :: ... connection refused"), condensed to one line.
  virtual Status Obtain(const std::vector<std::string>& names, std::string* chain_pem, std::string* key_pem) = 0;
};

class LegoClient : public AcmeClient {
 public:
  // `runner` must outlive this object.
  LegoClient(AcmeOptions options, CommandRunner* runner);
  Status Obtain(const std::vector<std::string>& names, std::string* chain_pem, std::string* key_pem) override;

  // The argv of one `lego run` for `names` (exposed for unit tests).
  std::vector<std::string> Command(const std::vector<std::string>& names) const;

 private:
  const AcmeOptions options_;
  CommandRunner* runner_;
};

// The most telling line of lego's output for a person: the CA's error if there is one, otherwise
// the last non-empty line. Never longer than 400 characters.
std::string SummarizeLegoOutput(const std::string& output);

}  // namespace bim
