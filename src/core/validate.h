// Validation of every user-supplied name that reaches an nginx config, a file path, a Docker label or
// name, or a URL. Each returns OK or InvalidArgument with a one-line message naming the rule and fix.
// The rules are deliberately ASCII-only: Unicode look-alikes ("һello" with a Cyrillic h) are refused.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace bim {

// App names are DNS labels: 1-63 chars of [a-z0-9-], not starting or ending with '-'.
Status ValidateAppName(std::string_view name);

// Service names of a Compose app are DNS labels too (they are the names services reach each other by,
// and part of container names and route keys): 1-63 chars of [a-z0-9-], no leading/trailing '-'.
Status ValidateServiceName(std::string_view name);

// Volume names (Compose's top-level `volumes`): 1-64 chars of [A-Za-z0-9_.-], starting with a letter
// or digit.
Status ValidateVolumeName(std::string_view name);

// Env keys: [A-Za-z_][A-Za-z0-9_]*, at most 256 chars.
Status ValidateEnvKey(std::string_view key);

// Hostnames: dot-separated DNS labels ([a-z0-9-], 1-63 each, case-insensitive), total <= 253 chars.
// "localhost" and "example.com" are valid; "", ".", "a..b", "-a.com", "a_b.com" are not.
Status ValidateDomain(std::string_view domain);

// Health check paths: start with '/', at most 1024 chars, only RFC 3986 path/query characters
// ([A-Za-z0-9-._~/?=&%+:@!,]); no spaces, quotes, ';', '{', '}', '$', '\\' or control characters.
Status ValidateHealthPath(std::string_view path);

// Ports: 1-65535.
Status ValidatePort(long port);

// API token names (shown in the audit log): 1-64 chars of [A-Za-z0-9._-].
Status ValidateTokenName(std::string_view name);

// The one parser for counts and ids that arrive as text (query parameters such as ?limit=, ?tail=,
// path ids): decimal digits only (no sign, spaces or suffix), at most 18 of them, and min <= value <=
// max. On success sets *out; otherwise returns InvalidArgument "<what> must be a number from <min> to
// <max> (got \"...\")" and leaves *out unchanged.
Status ParseCount(std::string_view text, int64_t min, int64_t max, std::string_view what, int64_t* out);

}  // namespace bim
