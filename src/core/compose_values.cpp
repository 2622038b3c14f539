// Value syntax of Compose files: variable interpolation, durations, command strings, byte sizes.
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/compose.h"

namespace bim {

namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

const EnvVar* Find(const EnvList& vars, std::string_view key) {
  for (const auto& v : vars)
    if (v.key == key) return &v;
  return nullptr;
}

// Shows untrusted text inside a one-line message.
std::string Shown(std::string_view text) {
  std::string s(text.substr(0, 60));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return text.size() > 60 ? s + "..." : s;
}

}  // namespace

Status Interpolate(std::string_view text, const EnvList& variables, bool require_variables, const std::string& where,
                   std::string* out) {
  std::string result;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c != '$') {
      result += c;
      ++i;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {  // $$: a literal $
      result += '$';
      i += 2;
      continue;
    }
    if (i + 1 < text.size() && IsNameStart(text[i + 1])) {  // $VAR
      size_t end = i + 1;
      while (end < text.size() && IsNameChar(text[end])) ++end;
      if (const EnvVar* v = Find(variables, text.substr(i + 1, end - i - 1))) result += v->value;
      i = end;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{')
      return Status::InvalidArgument(where + ": a lone '$' in \"" + Shown(text) +
                                     "\" (write $$ for a literal $, or ${VAR} for a variable)");
    // ${...}: find the matching brace (defaults may nest ${...}).
    size_t depth = 0, end = i + 1;
    for (; end < text.size(); ++end) {
      if (text[end] == '{') ++depth;
      if (text[end] == '}' && --depth == 0) break;
    }
    if (end >= text.size())
      return Status::InvalidArgument(where + ": unclosed ${ in \"" + Shown(text) + "\" (write ${VAR})");
    std::string_view inner = text.substr(i + 2, end - i - 2);
    size_t n = 0;
    while (n < inner.size() && (n == 0 ? IsNameStart(inner[n]) : IsNameChar(inner[n]))) ++n;
    if (n == 0)
      return Status::InvalidArgument(where + ": \"${" + Shown(inner) + "}\" does not start with a variable name");
    std::string name(inner.substr(0, n));
    std::string_view rest = inner.substr(n);
    const EnvVar* v = Find(variables, name);
    bool colon = !rest.empty() && rest[0] == ':';
    if (colon) rest.remove_prefix(1);
    // With ':' an empty value counts as unset, as in the shell.
    bool set = v != nullptr && (!colon || !v->value.empty());
    if (rest.empty() && !colon) {
      if (v) result += v->value;
    } else if (!rest.empty() && (rest[0] == '-' || rest[0] == '+' || rest[0] == '?')) {
      char op = rest[0];
      std::string arg;
      if (Status s = Interpolate(rest.substr(1), variables, require_variables, where, &arg); !s.ok()) return s;
      if (op == '-') {
        result += set ? v->value : arg;
      } else if (op == '+') {
        if (set) result += arg;
      } else if (set) {
        result += v->value;
      } else if (require_variables) {
        return Status::InvalidArgument(where + ": variable " + name + " is required" +
                                       (arg.empty() ? "" : " (" + Shown(arg) + ")") +
                                       "; set it with `bim env set` or in .env");
      }
    } else {
      return Status::InvalidArgument(where + ": \"${" + Shown(inner) + "}\" is not a form bim knows (write ${" + name +
                                     "}, ${" + name + ":-default} or ${" + name + ":?message})");
    }
    i = end + 1;
  }
  *out = std::move(result);
  return Status::OK();
}

Status ParseComposeDuration(std::string_view text, std::chrono::milliseconds* out) {
  auto bad = [&] {
    return Status::InvalidArgument("\"" + Shown(text) + "\" is not a duration (write it like 30s, 1m30s or 500ms)");
  };
  if (text.empty()) return bad();
  bool digits_only = text.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits_only) {  // Compose reads a bare number as seconds
    if (text.size() > 9) return bad();
    *out = std::chrono::milliseconds(std::atoll(std::string(text).c_str()) * 1000);
    return Status::OK();
  }
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == start || i - start > 12) return bad();
    double number = std::atof(std::string(text.substr(start, i - start)).c_str());
    size_t unit_start = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || text[i] == 'u')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit == "h") scale = 3'600'000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "s") scale = 1000;
    else if (unit == "ms") scale = 1;
    else if (unit == "us") scale = 0.001;
    else return bad();
    total_ms += number * scale;
  }
  if (total_ms > 365.0 * 24 * 3'600'000) return bad();
  *out = std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
  return Status::OK();
}

Status SplitCommand(std::string_view text, std::vector<std::string>* out) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos)
        return Status::InvalidArgument("unclosed ' in command \"" + Shown(text) + "\"");
      word.append(text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= text.size()) return Status::InvalidArgument("unclosed \" in command \"" + Shown(text) + "\"");
        if (text[i] == '"') break;
        // Inside double quotes a backslash escapes only these, as in a POSIX shell.
        if (text[i] == '\\' && i + 1 < text.size() &&
            (text[i + 1] == '"' || text[i + 1] == '\\' || text[i + 1] == '$' || text[i + 1] == '`'))
          ++i;
        word += text[i];
      }
    } else if (c == '\\') {
      if (i + 1 < text.size()) word += text[++i];
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  *out = std::move(words);
  return Status::OK();
}

Status ParseComposeBytes(std::string_view text, int64_t* out) {
  auto bad = [&] {
    return Status::InvalidArgument("\"" + Shown(text) + "\" is not a size (write it like 512m, 1g or 100k)");
  };
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0 || i > 15) return bad();
  double number = std::atof(std::string(text.substr(0, i)).c_str());
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();  // "mb" -> "m"
  double scale;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k") scale = 1024.0;
  else if (unit == "m") scale = 1024.0 * 1024;
  else if (unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  else return bad();
  double bytes = number * scale;
  if (bytes < 1 || bytes > 9.0e18) return bad();
  *out = static_cast<int64_t>(bytes);
  return Status::OK();
}

}  // namespace bim
