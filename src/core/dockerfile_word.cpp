#include <string>

#include "core/dockerfile.h"
#include "core/dockerfile_text.h"

namespace bim::dockerfile_text {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string Show(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 100; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return s.size() > 100 ? out + "..." : out;
}

namespace {

using Vars = std::map<std::string, std::string>;

// The classic builder's shell lexer (moby builder/dockerfile/shell, Docker 20.10) for one word.
// Names of variables it expanded that `vars` does not hold are added to *missing.
class WordLexer {
 public:
  WordLexer(std::string_view word, const Vars& vars, char escape, std::set<std::string>* missing)
      : s_(word), vars_(vars), escape_(escape), missing_(missing) {}

  Status Run(std::string* out) { return StopOn('\0', out); }

 private:
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  char Next() { return AtEnd() ? '\0' : s_[pos_++]; }

  // Reads until `stop` ('\0': the end of the word), which is consumed.
  Status StopOn(char stop, std::string* out) {
    while (!AtEnd()) {
      char c = Peek();
      if (stop != '\0' && c == stop) {
        Next();
        return Status::OK();
      }
      Status s;
      if (c == '\'') s = SingleQuote(out);
      else if (c == '"') s = DoubleQuote(out);
      else if (c == '$') s = Dollar(out);
      else {
        Next();
        if (c == escape_) {
          if (AtEnd()) break;
          c = Next();
        }
        out->push_back(c);
      }
      if (!s.ok()) return s;
    }
    if (stop != '\0') return Status::InvalidArgument(std::string("no matching '") + stop + "'");
    return Status::OK();
  }

  Status SingleQuote(std::string* out) {
    Next();
    while (!AtEnd()) {
      char c = Next();
      if (c == '\'') return Status::OK();
      out->push_back(c);
    }
    return Status::InvalidArgument("no matching single quote");
  }

  Status DoubleQuote(std::string* out) {
    Next();
    for (;;) {
      if (AtEnd()) return Status::InvalidArgument("no matching double quote");
      char c = Peek();
      if (c == '"') {
        Next();
        return Status::OK();
      }
      if (c == '$') {
        if (Status s = Dollar(out); !s.ok()) return s;
        continue;
      }
      Next();
      if (c == escape_) {
        if (AtEnd()) continue;
        if (Peek() == '"' || Peek() == '$' || Peek() == escape_) c = Next();
      }
      out->push_back(c);
    }
  }

  std::string Name() {
    std::string name;
    if (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') name.push_back(Next());
      return name;
    }
    while (!AtEnd()) {
      unsigned char c = static_cast<unsigned char>(Peek());
      bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
      if (!letter && !(c >= '0' && c <= '9') && c != '_') break;
      name.push_back(Next());
    }
    return name;
  }

  bool Lookup(const std::string& name, std::string* value) {
    auto it = vars_.find(name);
    if (it == vars_.end()) {
      if (missing_) missing_->insert(name);
      value->clear();
      return false;
    }
    *value = it->second;
    return true;
  }

  Status Dollar(std::string* out) {
    Next();
    std::string value;
    if (Peek() != '{') {
      std::string name = Name();
      if (name.empty()) {
        out->push_back('$');
        return Status::OK();
      }
      Lookup(name, &value);
      *out += value;
      return Status::OK();
    }
    Next();
    if (AtEnd() || Peek() == '{' || Peek() == '}' || Peek() == ':')
      return Status::InvalidArgument("bad substitution ${...}");
    std::string name = Name();
    char c = Next();
    if (c == '}') {
      Lookup(name, &value);
      *out += value;
      return Status::OK();
    }
    if (c != ':')
      return Status::InvalidArgument("unsupported substitution ${" + Show(name) + std::string(1, c) +
                                     "...} (the classic builder knows ${VAR}, ${VAR:-word} and ${VAR:+word})");
    char modifier = Next();
    std::string word;
    if (Status s = StopOn('}', &word); !s.ok()) return Status::InvalidArgument("missing '}' in ${" + Show(name) + ":...");
    Lookup(name, &value);
    if (modifier == '+') *out += value.empty() ? "" : word;
    else if (modifier == '-') *out += value.empty() ? word : value;
    else
      return Status::InvalidArgument(std::string("unsupported modifier '") + modifier + "' in ${" + Show(name) +
                                     ":...} (the classic builder knows :- and :+)");
    return Status::OK();
  }

  std::string_view s_;
  size_t pos_ = 0;
  const Vars& vars_;
  char escape_;
  std::set<std::string>* missing_;
};

}  // namespace

Status ExpandWord(std::string_view word, const Vars& vars, char escape, std::set<std::string>* missing,
                  std::string* out) {
  out->clear();
  return WordLexer(word, vars, escape, missing).Run(out);
}

}  // namespace bim::dockerfile_text

namespace bim {

Status ExpandDockerfileWord(std::string_view word, const std::map<std::string, std::string>& vars, char escape,
                            std::string* out) {
  return dockerfile_text::ExpandWord(word, vars, escape, nullptr, out);
}

}  // namespace bim
