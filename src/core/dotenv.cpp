#include "core/dotenv.h"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/validate.h"

namespace bim {

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (IsBlank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Keys are not secret, but the text before '=' on a bad line may be a fragment of an unquoted
// multi-line value (a PEM or base64 blob). So a bad key is only echoed when it is short and made of
// plain name characters; otherwise the message just points at the line.
std::string DescribeBadKey(std::string_view key) {
  bool plain = key.size() <= 40;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.' || c == ' ';
    plain = plain && ok;
  }
  return plain ? "invalid key \"" + std::string(key) + "\"" : "invalid key";
}

// Walks the .env text; each Statement() consumes one statement, which may span lines when a quoted value
// does. Line numbers in errors are those of the line where the statement starts.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Status Run(EnvList* out) {
    // A UTF-8 byte order mark from a Windows editor is not part of the first key.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    while (pos_ < text_.size()) {
      Status s = Statement(out);
      if (!s.ok()) return s;
    }
    return Status::OK();
  }

 private:
  Status Error(int line, const std::string& msg) const {
    return Status::InvalidArgument(".env line " + std::to_string(line) + ": " + msg);
  }

  // Returns the rest of the current line (without '\n' or a trailing '\r') and moves past it.
  std::string_view TakeLine() {
    size_t nl = text_.find('\n', pos_);
    size_t end = nl == std::string_view::npos ? text_.size() : nl;
    std::string_view line = text_.substr(pos_, end - pos_);
    if (nl == std::string_view::npos) {
      pos_ = text_.size();
    } else {
      pos_ = nl + 1;
      ++line_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }

  static std::string_view StripExport(std::string_view s) {
    if (s.size() > 7 && s.substr(0, 6) == "export" && IsBlank(s[6])) return TrimBlanks(s.substr(7));
    return s;
  }

  Status Statement(EnvList* out) {
    const int start_line = line_;
    std::string_view line = TrimBlanks(TakeLine());
    if (line.empty() || line[0] == '#') return Status::OK();

    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      // The line is not echoed: without '=' it may be a line of an unquoted multi-line secret.
      return Error(start_line, "missing '=' after KEY (write KEY=value; quote values that span lines)");
    }

    std::string_view key = StripExport(TrimBlanks(line.substr(0, eq)));
    if (key.empty()) return Error(start_line, "missing key before '=' (write KEY=value)");
    if (!ValidateEnvKey(key).ok()) {
      return Error(start_line, DescribeBadKey(key) +
                                   " (keys are letters, digits and _, not starting with a digit)");
    }

    // `line` views text_, so the value's offset in text_ is known; a quoted value is re-read from
    // there because it may run on past the end of this line.
    size_t value_pos = static_cast<size_t>(line.data() - text_.data()) + eq + 1;
    while (value_pos < text_.size() && IsBlank(text_[value_pos])) ++value_pos;
    char quote = value_pos < text_.size() ? text_[value_pos] : '\0';

    std::string value;
    if (quote == '"' || quote == '\'') {
      pos_ = value_pos;
      line_ = start_line;
      Status s = Quoted(quote, std::string(key), start_line, &value);
      if (!s.ok()) return s;
    } else {
      // An inline comment starts at a '#' preceded by a blank, so "a#b" and URL fragments are kept.
      // The blanks right after '=' count: "KEY= # note" is an empty value with a comment, while
      // "KEY=#x" is the value "#x".
      std::string_view raw = line.substr(eq + 1);
      for (size_t i = 1; i < raw.size(); ++i) {
        if (raw[i] == '#' && IsBlank(raw[i - 1])) {
          raw = raw.substr(0, i);
          break;
        }
      }
      value = std::string(TrimBlanks(raw));
    }
    SetEnv(out, std::string(key), value);
    return Status::OK();
  }

  // Reads a quoted value starting at pos_ (on the opening quote), then the rest of its last line.
  Status Quoted(char quote, const std::string& key, int start_line, std::string* value) {
    ++pos_;
    bool closed = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == quote) {
        closed = true;
        break;
      }
      if (c == '\n') ++line_;
      if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') continue;  // CRLF -> LF
      if (c == '\\' && quote == '"' && pos_ < text_.size()) {
        char e = text_[pos_];
        switch (e) {
          case 'n': *value += '\n'; break;
          case 'r': *value += '\r'; break;
          case 't': *value += '\t'; break;
          case '\\': *value += '\\'; break;
          case '"': *value += '"'; break;
          case '$': *value += '$'; break;
          default:
            // Unknown escapes stay as written, as in Compose ("C:\dir" keeps its backslash).
            *value += '\\';
            continue;
        }
        ++pos_;
        continue;
      }
      *value += c;
    }
    if (!closed) {
      std::string name = quote == '"' ? "double" : "single";
      return Error(start_line, "unterminated " + name + " quote in the value of " + key +
                                   " (close it with " + quote + ")");
    }
    // After the closing quote only blanks and a comment may follow.
    const int end_line = line_;
    std::string_view rest = TrimBlanks(TakeLine());
    if (!rest.empty() && rest[0] != '#') {
      return Error(end_line, "unexpected text after the closing quote of " + key +
                                 " (put # before a comment, or quote the whole value)");
    }
    return Status::OK();
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;  // 1-based number of the line pos_ is on
};

}  // namespace

Status ParseDotenv(std::string_view text, EnvList* out) {
  out->clear();
  EnvList env;
  Status s = Parser(text).Run(&env);
  if (s.ok()) *out = std::move(env);
  return s;
}

void SetEnv(EnvList* env, const std::string& key, const std::string& value) {
  for (EnvVar& v : *env) {
    if (v.key == key) {
      v.value = value;
      return;
    }
  }
  env->push_back(EnvVar{key, value});
}

std::string EnvDigest(const EnvList& env, std::string_view key) {
  // sodium_init() is idempotent and thread-safe; it returns 1 when already initialised.
  if (sodium_init() < 0) return "";
  EnvList sorted = env;
  std::sort(sorted.begin(), sorted.end(), [](const EnvVar& a, const EnvVar& b) {
    return a.key != b.key ? a.key < b.key : a.value < b.value;
  });
  // Length-prefix every field so that {A="b=c"} and {"A=b"="c"}-like splits cannot collide.
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  auto feed = [&st](const std::string& s) {
    uint64_t n = s.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    crypto_auth_hmacsha256_update(&st, len, sizeof len);
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  for (const EnvVar& v : sorted) {
    feed(v.key);
    feed(v.value);
  }
  unsigned char digest[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, digest);
  char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

}  // namespace bim
