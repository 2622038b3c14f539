// .dockerignore matching with Docker's semantics (moby/patternmatcher):
//  - one pattern per line; '#' lines and blank lines ignored; surrounding whitespace trimmed
//  - patterns are cleaned like filepath.Clean and a leading '/' is dropped; paths are relative to DIR
//  - '*' matches any run of non-'/' characters, '?' one non-'/' character, "[a-z]" classes,
//    '**' matches any number of path segments (including zero)
//  - a pattern that matches a directory also excludes everything under it
//  - '!' re-includes what an earlier pattern excluded; the last matching pattern wins
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

class DockerIgnore {
 public:
  DockerIgnore() = default;  // excludes nothing

  // Parses .dockerignore text. Returns InvalidArgument naming the line for a malformed pattern
  // (e.g. an unterminated '[' class); on failure `out` is unchanged.
  static Status Parse(std::string_view text, DockerIgnore* out);

  // True if `path` (relative, '/'-separated, no leading "./") is excluded from the build context.
  bool Excludes(std::string_view path) const;

  // True if some '!' pattern exists: then an excluded directory must still be walked, because a
  // file inside it may be re-included.
  bool HasExceptions() const { return has_exceptions_; }

 private:
  struct Pattern {
    std::string glob;  // cleaned pattern without the leading '!'
    bool exclusion;    // true for '!' patterns (re-include)
  };
  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
};

}  // namespace bim
