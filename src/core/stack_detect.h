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
  std::map<std::string, std::string> contents;  // name -> text (at most kMaxProbeBytes), for probe files
};

// Whether DetectStack reads the contents of the top-level file `name`: package.json, yarn.lock (to
// tell Yarn 1 from Yarn 2+), go.mod, CMakeLists.txt, pyproject.toml, Pipfile and requirements*.txt.
// Callers read the first kMaxProbeBytes of each one present.
bool IsStackProbeFile(const std::string& name);
inline constexpr size_t kMaxProbeBytes = 256 * 1024;

struct StackInfo {
  Stack stack = Stack::kUnknown;
  std::string name = "unknown";  // "static", "node", "python", "go", "cmake", "unknown"
  std::string reason;            // why, for people: "CMakeLists.txt found (builds target \"hello\")"
  int port = 8080;               // the port the generated Dockerfile's app listens on
  // Template variables for the stack's Dockerfile and CI steps. Always "stack" and "stack_<name>" =
  // "true" (a Mustache section switch). Variables are set for the detected stack and "" for the others:
  //   cmake_target; go_image; python_cmd (exec-form CMD), python_requirements_file, python_ci_install,
  //   python_ci_run ("uv run " etc.); node_cmd (exec-form CMD: the start script's own command when it is
  //   a plain one, so SIGTERM reaches the app), node_manifests (files to COPY before installing),
  //   node_install / node_install_prod (frozen install with the lockfile's package manager: npm ci,
  //   yarn --frozen-lockfile / --immutable, pnpm --frozen-lockfile), node_build_cmd.
  // Switches, present only when true: node_build, node_test, node_locked (a lockfile), node_direct (CMD
  // is the app's own command, not npm), go_sum, python_tests, python_locked (uv/poetry/pipenv lock), and
  // one of python_uv, python_poetry, python_pipenv, python_requirements, python_pyproject.
  TemplateVars vars;
};

// Detects the stack. Order of precedence: CMakeLists.txt (C/C++ with CMake), go.mod (Go),
// package.json (Node.js), requirements*.txt / pyproject.toml / Pipfile / uv.lock / poetry.lock /
// app.py / main.py / manage.py (Python), index.html (static site); anything else is kUnknown with a
// reason listing what was looked for. Lockfiles decide how dependencies are installed (see vars).
// Unparseable probe files (bad package.json) do not fail: defaults are used and the reason says so.
StackInfo DetectStack(const FolderListing& listing);

// A DNS label (see ValidateAppName) made from a folder name: lower-cased, runs of other characters
// turned into one '-', trimmed of '-', cut to 63. Returns "app" if nothing usable is left.
std::string SanitizeAppName(std::string_view folder);

}  // namespace bim
