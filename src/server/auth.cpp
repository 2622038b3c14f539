#include "server/auth.h"

#include <sodium.h>

#include "base/file_util.h"
#include "base/random.h"

namespace bim {

namespace {
constexpr const char* kAdminHashKey = "admin_token_sha256";
}  // namespace

std::string NewToken() { return "bim_" + RandomHex(32); }

std::string HashToken(const std::string& token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return HexEncode(digest, sizeof digest);
}

Status Authenticator::EnsureAdminToken(const std::string& token_path, bool* created) {
  *created = false;
  std::string hash;
  Status s = store_->GetMeta(kAdminHashKey, &hash);
  if (s.ok()) return Status::OK();
  if (!s.IsNotFound()) return s;
  std::string token = NewToken();
  if (!(s = WriteFileAtomically(token_path, token + "\n", 0600)).ok()) return s;
  if (!(s = store_->SetMeta(kAdminHashKey, HashToken(token))).ok()) return s;
  *created = true;
  return Status::OK();
}

Status Authenticator::RotateAdminToken(const std::string& token_path, std::string* token) {
  std::string fresh = NewToken();
  // The file first: if keeping the hash fails, the old token still works and nothing is lost.
  if (Status s = WriteFileAtomically(token_path, fresh + "\n", 0600); !s.ok()) return s;
  if (Status s = store_->SetMeta(kAdminHashKey, HashToken(fresh)); !s.ok())
    return s.Wrap("the new admin token was written to " + token_path + " but not stored; the old one still works");
  *token = fresh;
  return Status::OK();
}

Status Authenticator::Check(const std::string& authorization, std::string* actor, std::string* app_scope,
                            bool* read_secrets) const {
  app_scope->clear();
  if (read_secrets) *read_secrets = false;
  const std::string prefix = "Bearer ";
  if (authorization.empty())
    return Status::Unauthenticated("missing token (run `bim login URL --token TOKEN` or set BIM_TOKEN)");
  if (!authorization.starts_with(prefix))
    return Status::Unauthenticated("Authorization must be \"Bearer <token>\"");
  std::string presented = HashToken(authorization.substr(prefix.size()));
  std::string admin;
  if (store_->GetMeta(kAdminHashKey, &admin).ok() && admin.size() == presented.size() &&
      sodium_memcmp(admin.data(), presented.data(), admin.size()) == 0) {
    *actor = "admin";
    if (read_secrets) *read_secrets = true;
    return Status::OK();
  }
  // Other tokens: the lookup is by hash, which is safe to do in SQL because the hash is of 256 random
  // bits (no timing can narrow it down); the comparison of the found row is still constant-time.
  ApiToken token;
  if (store_->FindTokenByHash(presented, &token).ok() && token.revoked_at_ms == 0 &&
      token.hash.size() == presented.size() &&
      sodium_memcmp(token.hash.data(), presented.data(), presented.size()) == 0) {
    *actor = token.name;
    *app_scope = token.app_scope;
    if (read_secrets) *read_secrets = token.read_secrets;
    // last_used is advisory: a write per request would serialise every call on the database.
    long long now = NowMillis();
    if (now - token.last_used_at_ms > 60 * 1000) store_->TouchToken(token.id, now);
    return Status::OK();
  }
  return Status::Unauthenticated("invalid or revoked token (check BIM_TOKEN or run `bim login` again)");
}

}  // namespace bim
