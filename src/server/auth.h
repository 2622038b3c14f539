// Bearer-token authentication for bimd's API.
//
// Tokens are "bim_" + 64 hex chars (32 random bytes from libsodium). Only a SHA-256 hash of a token is
// stored; presented tokens are hashed and compared in constant time. The admin token is created on
// first start and written to <data_dir>/admin.token (mode 0600) for the operator to hand to `bim login`.
#pragma once

#include <string>

#include "core/status.h"
#include "store/store.h"

namespace bim {

// A fresh random token ("bim_" + RandomHex(32)).
std::string NewToken();
// Hex SHA-256 of a token.
std::string HashToken(const std::string& token);

// Checks presented tokens against the Store.
//
// Thread-safety: Check may be called from any number of threads at once (it holds no state of its own;
// the Store serialises its calls, and nothing is cached, so a revocation is seen by the next call).
// EnsureAdminToken is meant for startup, before requests are served; it is safe to call concurrently
// with Check but two concurrent EnsureAdminToken calls on an empty store could both create a token.
// Ownership: does not own the Store, which must outlive it.
class Authenticator {
 public:
  explicit Authenticator(Store* store) : store_(store) {}
  // Ensures an admin token exists: if the store has no admin hash, creates a token, stores its hash
  // and writes it to `token_path` (0600). If the file is missing but a hash exists, nothing is
  // written (the operator deleted it; the hash still works). Sets *created when a token was made.
  Status EnsureAdminToken(const std::string& token_path, bool* created);
  // Accepts the admin token and every stored token that is not revoked (revocation takes effect on
  // the next call: nothing is cached).
  // OK, *name = the token's name ("admin") and *app_scope = the one app it is limited to ("" for
  // all) if `authorization` is "Bearer <valid token>"; otherwise Unauthenticated with a message that
  // never includes the presented value. *read_secrets (if given) says whether the token may see env
  // values: always for the admin token, for others only if made with read_secrets.
  Status Check(const std::string& authorization, std::string* name, std::string* app_scope,
               bool* read_secrets = nullptr) const;

  // Replaces the admin token: a new one is written to `token_path` (0600) and only its hash is kept;
  // the old one is refused from the next request on. Sets *token to the new value (shown once).
  Status RotateAdminToken(const std::string& token_path, std::string* token);

 private:
  Store* store_;
};

}  // namespace bim
