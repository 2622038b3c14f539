// Which kind of app a folder holds, worked out from its file names and a few small files, so
// `bim init` can write a Dockerfile and CI steps that fit. Pure: the caller lists the folder.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/template.h"

namespace bim {

enum class Stack { kStatic, kNode, kPython, kGo, kCmake, kUnknown };

// What DetectStack looks at.
struct FolderListing {
  std::vector<std::string> files;               // names of the folder's top-level entries (files and dirs)
  std::map<std::string, std::string> contents;  // name -> text, for those of StackProbeFiles() present
};

// The top-level files whose contents DetectStack reads (package.json, go.mod, CMakeLists.txt,
// requirements.txt, pyproject.toml). Callers read the ones present, up to kMaxProbeBytes each.
const std::vector<std::string>& StackProbeFiles();
inline constexpr size_t kMaxProbeBytes = 256 * 1024;

struct StackInfo {
  Stack stack = Stack::kUnknown;
  std::string name = "unknown";  // "static", "node", "python", "go", "cmake", "unknown"
  std::string reason;            // why, for people: "CMakeLists.txt found (builds target \"hello\")"
  int port = 8080;               // the port the generated Dockerfile's app listens on
  // Template variables for the stack's Dockerfile and CI steps: always "stack" and "stack_<name>" =
  // "true" (a Mustache section switch); plus "cmake_target", "go_image", "node_cmd", "node_install" and
  // "python_cmd", set for the detected stack and "" for the others. Switches are present only when true.
  TemplateVars vars;
};

// Detects the stack. Order of precedence: CMakeLists.txt (C/C++ with CMake), go.mod (Go),
// package.json (Node.js), requirements.txt / pyproject.toml / Pipfile / app.py / main.py (Python),
// index.html (static site); anything else is kUnknown with a reason listing what was looked for.
// Unparseable probe files (bad package.json) do not fail: defaults are used and the reason says so.
StackInfo DetectStack(const FolderListing& listing);

// A DNS label (see ValidateAppName) made from a folder name: lower-cased, runs of other characters
// turned into one '-', trimmed of '-', cut to 63. Returns "app" if nothing usable is left.
std::string SanitizeAppName(std::string_view folder);

}  // namespace bim
