#include "base/random.h"

#include <sodium.h>

namespace bim {

std::string HexEncode(const unsigned char* data, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.pop_back();
  return out;
}

std::string RandomHex(size_t bytes) {
  // sodium_init is idempotent and thread-safe; randombytes_buf works without it but may then pick a
  // weaker implementation on some platforms.
  static const bool initialised = sodium_init() >= 0;
  (void)initialised;
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return HexEncode(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

}  // namespace bim
