// .env parsing with docker-compose dotenv semantics.
//
// Accepted, one variable per line:
//   KEY=VALUE              value is trimmed; an inline comment starts at " #" (whitespace then #)
//   export KEY=VALUE       the "export " prefix is ignored
//   KEY="a\nb \"q\""       double quotes: \n \r \t \\ \" \$ escapes are processed; may span lines
//   KEY='literal $x \n'    single quotes: taken literally; may span lines
//   KEY=                   empty value
//   # comment / blank      ignored
// Keys must match [A-Za-z_][A-Za-z0-9_]*. A later duplicate key replaces the earlier value (in place).
// No variable interpolation is done: "$x" stays "$x" (bim passes values through unchanged).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

struct EnvVar {
  std::string key;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};
using EnvList = std::vector<EnvVar>;

// Parses `text` into `out` (replacing its contents). On failure returns InvalidArgument with the
// 1-based line number and the fix, e.g. ".env line 3: missing '=' after KEY (write KEY=value)", and
// leaves `out` empty. Messages never quote values, only keys and line numbers.
Status ParseDotenv(std::string_view text, EnvList* out);

// Sets key=value in `env`, replacing an existing key in place or appending.
void SetEnv(EnvList* env, const std::string& key, const std::string& value);

// A stable hex digest of the env, independent of order, keyed: HMAC-SHA256 under `key` (bimd's own
// secret, see Store::DigestEnv). It lets a release record say "the env changed" without storing
// values, and, being keyed, cannot be used to guess values offline (an unkeyed hash of a short
// secret could be brute-forced from the published digest).
std::string EnvDigest(const EnvList& env, std::string_view key);

}  // namespace bim
