// Text helpers shared by the Dockerfile reader's files (dockerfile.cpp, dockerfile_word.cpp). Private
// to src/core: not part of any public interface.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim::dockerfile_text {

bool IsSpace(char c);
std::string_view Trim(std::string_view s);
std::string_view TrimLeft(std::string_view s);
std::string Lower(std::string_view s);
std::string Upper(std::string_view s);
// A piece of a Dockerfile shown inside an error message: one line, control bytes escaped, cut short.
std::string Show(std::string_view s);

// The classic builder's shell lexer (moby builder/dockerfile/shell, Docker 20.10) for one word:
// quotes removed, escapes applied, $VAR ${VAR} ${VAR:-w} ${VAR:+w} expanded from `vars` (unset names
// expand to "" and are added to *missing when it is set). InvalidArgument for other ${...} forms.
Status ExpandWord(std::string_view word, const std::map<std::string, std::string>& vars, char escape,
                  std::set<std::string>* missing, std::string* out);

}  // namespace bim::dockerfile_text
