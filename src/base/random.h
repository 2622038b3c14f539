// Random identifiers from libsodium's CSPRNG (safe for secrets, cheap enough for names).
#pragma once

#include <cstddef>
#include <string>

namespace bim {

// `bytes` random bytes as lower-case hex (2 * bytes characters): tokens, instance ids, upload file
// names, unique test names. Thread-safe; never fails (libsodium initialises itself on first use).
std::string RandomHex(size_t bytes);

// `n` bytes as lower-case hex.
std::string HexEncode(const unsigned char* data, size_t n);

}  // namespace bim
