#include "core/validate.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace bim {

namespace {

// Shows a user-supplied name inside an error message. Non-printable and non-ASCII bytes are written as
// \xNN so a newline or a look-alike letter is visible and the message stays on one line; very long
// input is cut because the point is to locate the problem, not to echo it back.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Checks one DNS label against [a-z0-9-]{1,63} without a leading or trailing '-'. `fold_case` accepts
// upper case too (domains are case-insensitive; app names are not, because they become Docker names
// and file names where "Hello" and "hello" would be different things). Returns the problem or "".
std::string LabelProblem(std::string_view label, bool fold_case) {
  if (label.empty()) return "is empty";
  if (label.size() > 63) return "is longer than 63 characters";
  for (char c : label) {
    if (fold_case && c >= 'A' && c <= 'Z') continue;
    if (!IsLowerAlnum(c) && c != '-') {
      if (c >= 'A' && c <= 'Z') return "has an upper-case letter";
      return "has a character other than a-z, 0-9 and '-'";
    }
  }
  if (label.front() == '-' || label.back() == '-') return "starts or ends with '-'";
  return "";
}

}  // namespace

Status ValidateAppName(std::string_view name) {
  std::string problem = LabelProblem(name, /*fold_case=*/false);
  if (problem.empty()) return Status::OK();
  return Status::InvalidArgument("app name " + Quote(name) + " " + problem +
                                 " (use 1-63 characters of a-z, 0-9 and '-', not starting or ending "
                                 "with '-')");
}

Status ValidateServiceName(std::string_view name) {
  std::string problem = LabelProblem(name, /*fold_case=*/false);
  if (problem.empty()) return Status::OK();
  return Status::InvalidArgument("service name " + Quote(name) + " " + problem +
                                 " (services are reached by their name on the app's network: rename it to 1-63 "
                                 "characters of a-z, 0-9 and '-')");
}

Status ValidateVolumeName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && (IsAlpha(name[0]) || IsDigit(name[0]));
  for (size_t i = 0; ok && i < name.size(); ++i)
    ok = IsAlpha(name[i]) || IsDigit(name[i]) || name[i] == '_' || name[i] == '.' || name[i] == '-';
  if (ok) return Status::OK();
  return Status::InvalidArgument("volume name " + Quote(name) +
                                 " is invalid (use 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-', starting "
                                 "with a letter or digit)");
}

Status ValidateEnvKey(std::string_view key) {
  bool ok = !key.empty() && key.size() <= 256 && !IsDigit(key[0]);
  for (size_t i = 0; ok && i < key.size(); ++i) ok = IsAlpha(key[i]) || IsDigit(key[i]) || key[i] == '_';
  if (ok) return Status::OK();
  if (key.size() > 256)
    return Status::InvalidArgument("env key " + Quote(key) + " is longer than 256 characters");
  return Status::InvalidArgument("invalid env key " + Quote(key) +
                                 " (keys are letters, digits and _, not starting with a digit)");
}

Status ValidateDomain(std::string_view domain) {
  const std::string fix = " (write a hostname like example.com: labels of a-z, 0-9 and '-', "
                          "separated by '.')";
  if (domain.empty()) return Status::InvalidArgument("domain is empty" + fix);
  if (domain.size() > 253)
    return Status::InvalidArgument("domain " + Quote(domain) + " is longer than 253 characters");
  size_t start = 0;
  while (true) {
    size_t dot = domain.find('.', start);
    std::string_view label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
    std::string problem = LabelProblem(label, /*fold_case=*/true);
    if (!problem.empty()) {
      return Status::InvalidArgument("domain " + Quote(domain) + ": label " + Quote(label) + " " +
                                     problem + fix);
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return Status::OK();
}

Status ValidateHealthPath(std::string_view path) {
  const std::string fix = " (write a URL path like /healthz)";
  if (path.empty() || path[0] != '/')
    return Status::InvalidArgument("health path " + Quote(path) + " must start with '/'" + fix);
  if (path.size() > 1024)
    return Status::InvalidArgument("health path is longer than 1024 characters" + fix);
  // An allow-list, not a deny-list: the path lands inside an nginx config and a curl URL, so anything
  // that is not plainly a URL path character is refused (percent-encode it instead).
  static constexpr std::string_view kExtra = "-._~/?=&%+:@!,";
  for (char c : path) {
    if (IsAlpha(c) || IsDigit(c) || kExtra.find(c) != std::string_view::npos) continue;
    std::string shown(1, c);
    return Status::InvalidArgument("health path " + Quote(path) + " has the character " +
                                   Quote(shown) +
                                   " (use only A-Z a-z 0-9 and -._~/?=&%+:@!, ; percent-encode others)");
  }
  // "." and ".." segments mean nothing to a health check and only serve to climb out of a prefix.
  std::string_view route = path.substr(0, path.find('?'));
  for (size_t start = 0; start < route.size();) {
    size_t slash = route.find('/', start);
    std::string_view seg = route.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (seg == "." || seg == "..")
      return Status::InvalidArgument("health path " + Quote(path) + " has a \".\" or \"..\" segment" + fix);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::OK();
}

Status ValidatePort(long port) {
  if (port >= 1 && port <= 65535) return Status::OK();
  return Status::InvalidArgument("port " + std::to_string(port) + " is out of range (use 1-65535)");
}

Status ValidateTokenName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (size_t i = 0; ok && i < name.size(); ++i) {
    char c = name[i];
    ok = IsAlpha(c) || IsDigit(c) || c == '.' || c == '_' || c == '-';
  }
  if (ok) return Status::OK();
  return Status::InvalidArgument("token name " + Quote(name) +
                                 " is invalid (use 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-')");
}

Status ParseCount(std::string_view text, int64_t min, int64_t max, std::string_view what, int64_t* out) {
  int64_t value = 0;
  bool digits = !text.empty() && text.size() <= 18 &&
                std::all_of(text.begin(), text.end(), [](char c) { return IsDigit(c); });
  if (digits) std::from_chars(text.data(), text.data() + text.size(), value);
  if (!digits || value < min || value > max)
    return Status::InvalidArgument(std::string(what) + " must be a number from " + std::to_string(min) + " to " +
                                   std::to_string(max) + " (got " + Quote(text) + ")");
  *out = value;
  return Status::OK();
}

}  // namespace bim
