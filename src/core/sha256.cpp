#include "core/sha256.h"

namespace bim {

std::string HexOf(const unsigned char* bytes, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

Sha256::Sha256() {
  // sodium_init() is idempotent and thread-safe; hashing works even if it failed.
  (void)sodium_init();
  crypto_hash_sha256_init(&state_);
}

void Sha256::Update(const void* data, size_t len) {
  crypto_hash_sha256_update(&state_, static_cast<const unsigned char*>(data), len);
}

std::string Sha256::HexDigest() {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state_, digest);
  return HexOf(digest, sizeof digest);
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace bim
