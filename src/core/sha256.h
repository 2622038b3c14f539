// SHA-256 (libsodium) as bim uses it: lower-case hex digests of strings and streams.
// Thread-compatible: one Sha256 per thread; the free functions are thread-safe.
#pragma once

#include <sodium.h>

#include <string>
#include <string_view>

namespace bim {

// Incremental hashing: Update any number of times, then HexDigest once.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // 64 lower-case hex digits. Call once; the object is spent afterwards.
  std::string HexDigest();

 private:
  crypto_hash_sha256_state state_;
};

// SHA-256 of `data` as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

// True for 64 lower-case hex digits.
bool IsSha256Hex(std::string_view s);

// Lower-case hex of `n` bytes.
std::string HexOf(const unsigned char* bytes, size_t n);

}  // namespace bim
