#include "core/dockerignore.h"

#include <cstdint>
#include <string>
#include <vector>

namespace bim {

namespace {

// Go's path.Clean for '/'-separated paths: drops empty and "." elements, resolves ".." where it can,
// removes a trailing '/'. Docker cleans both patterns and paths this way before matching, so "build/"
// and "./build" mean "build".
std::string CleanPath(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path[0] == '/';
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(start, slash - start);
    if (part.empty() || part == ".") {
      // skip
    } else if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);
      }
    } else {
      parts.push_back(part);
    }
    start = slash + 1;
  }
  std::string out = rooted ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Decodes the UTF-8 sequence at s[i], storing its length in *len. Invalid bytes decode as themselves
// with length 1, so matching degrades to byte comparison instead of failing. Go matches per rune:
// '?' must consume "ä" whole, not one of its bytes.
uint32_t DecodeRune(std::string_view s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n <= 1 || i + n > s.size()) {
    *len = 1;
    return c;
  }
  uint32_t r = c & (0xff >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) {
      *len = 1;
      return c;
    }
    r = (r << 6) | (cc & 0x3f);
  }
  *len = n;
  return r;
}

// One character of a '[...]' class, following Go's filepath.Match rules: '\' escapes, and an item
// may not be empty or start with '-' or ']'. Returns false when malformed.
bool ClassChar(std::string_view g, size_t* i, uint32_t* r) {
  if (*i >= g.size() || g[*i] == '-' || g[*i] == ']') return false;
  if (g[*i] == '\\') {
    ++*i;
    if (*i >= g.size()) return false;
  }
  size_t len;
  *r = DecodeRune(g, *i, &len);
  *i += len;
  return true;
}

// Parses the class whose '[' is at g[*i]. On success leaves *i after the ']' and, if `rune` is
// given, sets *matched to whether that rune is in the class.
bool ParseClass(std::string_view g, size_t* i, const uint32_t* rune, bool* matched) {
  ++*i;
  bool negated = *i < g.size() && g[*i] == '^';
  if (negated) ++*i;
  bool in = false;
  int items = 0;
  while (true) {
    if (*i >= g.size()) return false;                  // unterminated
    if (g[*i] == ']' && items > 0) break;
    uint32_t lo, hi;
    if (!ClassChar(g, i, &lo)) return false;
    hi = lo;
    if (*i < g.size() && g[*i] == '-') {
      ++*i;
      if (!ClassChar(g, i, &hi) || hi < lo) return false;
    }
    if (rune != nullptr && *rune >= lo && *rune <= hi) in = true;
    ++items;
  }
  ++*i;
  if (matched != nullptr) *matched = in != negated;
  return true;
}

// Returns "" if `glob` is a well-formed pattern, else what is wrong with it.
std::string PatternProblem(std::string_view g) {
  for (size_t i = 0; i < g.size();) {
    if (g[i] == '\\') {
      if (i + 1 >= g.size()) return "it ends with a lone '\\' (escape it as \\\\)";
      i += 2;
    } else if (g[i] == '[') {
      if (!ParseClass(g, &i, nullptr, nullptr))
        return "the '[' class is unterminated, empty or has a bad range (close it with ']' or escape it "
               "as \\[)";
    } else {
      ++i;
    }
  }
  return "";
}

// Matches `path` against a cleaned, validated pattern with the semantics of the regular expression
// moby's patternmatcher builds from it: '*' = [^/]*, '?' = [^/], "**/" and inner "**" = (.*/)?,
// a trailing "**" = .*, "[...]" a class, '\x' a literal x. `failed` memoises (pattern, path)
// positions already known not to match, which keeps patterns like "*a*a*a*b" polynomial.
class Matcher {
 public:
  Matcher(std::string_view glob, std::string_view path)
      : g_(glob), s_(path), failed_((glob.size() + 1) * (path.size() + 1), 0) {}

  bool Match() { return At(0, 0); }

 private:
  bool At(size_t gi, size_t si) {
    uint8_t& memo = failed_[gi * (s_.size() + 1) + si];
    if (memo) return false;
    bool ok = Step(gi, si);
    if (!ok) memo = 1;
    return ok;
  }

  bool Step(size_t gi, size_t si) {
    if (gi == g_.size()) return si == s_.size();
    const char c = g_[gi];
    if (c == '*' && gi + 1 < g_.size() && g_[gi + 1] == '*') {
      size_t next = gi + 2;
      if (next < g_.size() && g_[next] == '/') ++next;
      if (next == g_.size()) return true;  // trailing "**": everything below
      if (At(next, si)) return true;       // (.*/)? matching nothing
      for (size_t k = si; k < s_.size(); ++k)
        if (s_[k] == '/' && At(next, k + 1)) return true;
      return false;
    }
    if (c == '*') {
      for (size_t k = si;; ++k) {
        if (At(gi + 1, k)) return true;
        if (k == s_.size() || s_[k] == '/') return false;
      }
    }
    if (si == s_.size()) return false;
    size_t len;
    uint32_t r = DecodeRune(s_, si, &len);
    if (c == '?') return s_[si] != '/' && At(gi + 1, si + len);
    if (c == '[') {
      size_t i = gi;
      bool in = false;
      if (!ParseClass(g_, &i, &r, &in)) return false;
      return in && At(i, si + len);
    }
    if (c == '\\' && gi + 1 < g_.size()) return g_[gi + 1] == s_[si] && At(gi + 2, si + 1);
    return c == s_[si] && At(gi + 1, si + 1);
  }

  std::string_view g_;
  std::string_view s_;
  std::vector<uint8_t> failed_;
};

bool GlobMatches(const std::string& glob, std::string_view path) { return Matcher(glob, path).Match(); }

}  // namespace

Status DockerIgnore::Parse(std::string_view text, DockerIgnore* out) {
  DockerIgnore result;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    // As in Docker, only a '#' in the first column starts a comment; " #x" is a pattern.
    if (!line.empty() && line[0] == '#') continue;
    line = TrimSpace(line);
    if (line.empty()) continue;

    Pattern p;
    p.exclusion = line[0] == '!';
    if (p.exclusion) line = TrimSpace(line.substr(1));
    if (line.empty()) {
      return Status::InvalidArgument(".dockerignore line " + std::to_string(line_no) +
                                     ": a lone '!' re-includes nothing (write !path)");
    }
    p.glob = CleanPath(line);
    // Patterns are relative to the context root, so "/dist" means "dist".
    if (p.glob.size() > 1 && p.glob[0] == '/') p.glob.erase(0, 1);
    std::string problem = PatternProblem(p.glob);
    if (!problem.empty()) {
      return Status::InvalidArgument(".dockerignore line " + std::to_string(line_no) + ": bad pattern \"" +
                                     std::string(line) + "\": " + problem);
    }
    result.has_exceptions_ = result.has_exceptions_ || p.exclusion;
    result.patterns_.push_back(std::move(p));
  }
  *out = std::move(result);
  return Status::OK();
}

bool DockerIgnore::Excludes(std::string_view raw_path) const {
  const std::string path = CleanPath(raw_path);
  // The parent directories, shortest first: a pattern matching "a" or "a/b" also covers "a/b/c".
  std::vector<std::string_view> parents;
  for (size_t i = path.find('/'); i != std::string::npos; i = path.find('/', i + 1))
    parents.push_back(std::string_view(path).substr(0, i));

  // Like moby's MatchesOrParentMatches: walk every pattern in order, the last one that matches the
  // path or a parent decides. A pattern that cannot change the current answer is skipped.
  bool excluded = false;
  for (const Pattern& p : patterns_) {
    if (p.exclusion != excluded) continue;
    bool match = GlobMatches(p.glob, path);
    for (size_t i = 0; !match && i < parents.size(); ++i) match = GlobMatches(p.glob, parents[i]);
    if (match) excluded = !p.exclusion;
  }
  return excluded;
}

}  // namespace bim
