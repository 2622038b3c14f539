#include "core/stack_detect.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

namespace bim {

namespace {

using nlohmann::json;

struct Probe {
  const FolderListing& listing;
  std::set<std::string> names;

  explicit Probe(const FolderListing& l) : listing(l), names(l.files.begin(), l.files.end()) {}
  bool Has(const std::string& name) const { return names.count(name) > 0; }
  std::string Text(const std::string& name) const {
    auto it = listing.contents.find(name);
    return it == listing.contents.end() ? "" : it->second;
  }
};

// A CMD in exec form, JSON-quoted so names with quotes or spaces stay one argument.
std::string ExecForm(const std::vector<std::string>& argv) { return json(argv).dump(); }

// Names that may go into a Dockerfile unquoted (a target, a file, a version).
bool SafeWord(const std::string& s) {
  if (s.empty() || s.size() > 100 || s[0] == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '+' || c == '-' || c == '/';
  });
}

void Switch(StackInfo* info, const std::string& name) { info->vars[name] = "true"; }

void DetectCmake(const Probe& p, StackInfo* info) {
  info->stack = Stack::kCmake;
  info->name = "cmake";
  info->port = 8080;
  const std::string text = p.Text("CMakeLists.txt");
  std::smatch m;
  std::string project;
  static const std::regex kProject(R"(\bproject\s*\(\s*([A-Za-z0-9_.+-]+))", std::regex::icase);
  if (std::regex_search(text, m, kProject)) project = m[1];
  // The first executable that is not a test: the app. ${PROJECT_NAME} stands for the project's name.
  std::string target;
  static const std::regex kExe(R"(\badd_executable\s*\(\s*([A-Za-z0-9_.+${}-]+))", std::regex::icase);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kExe); it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[1];
    if (name == "${PROJECT_NAME}" || name == "${CMAKE_PROJECT_NAME}") name = project;
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!SafeWord(name) || name.find('/') != std::string::npos || lower.find("test") != std::string::npos) continue;
    target = name;
    break;
  }
  if (target.empty()) {
    target = SafeWord(project) && project.find('/') == std::string::npos ? project : "app";
    info->reason = "CMakeLists.txt found (no add_executable() seen; assuming target \"" + target +
                   "\": edit the Dockerfile's cp line if that is wrong)";
  } else {
    info->reason = "CMakeLists.txt found (builds target \"" + target + "\")";
  }
  info->vars["cmake_target"] = target;
}

void DetectGo(const Probe& p, StackInfo* info) {
  info->stack = Stack::kGo;
  info->name = "go";
  info->port = 8080;
  // go.sum pins every module's hash: copied with go.mod and checked by `go mod verify`.
  if (p.Has("go.sum")) Switch(info, "go_sum");
  std::string version = "1.22";
  std::smatch m;
  const std::string text = p.Text("go.mod");
  static const std::regex kGo(R"((^|\n)\s*go\s+(\d+)\.(\d+))");
  if (std::regex_search(text, m, kGo)) version = std::string(m[2]) + "." + std::string(m[3]);
  info->vars["go_image"] = "golang:" + version;
  info->reason = "go.mod found (Go " + version + ")" + (p.Has("go.sum") ? "; go.sum: modules verified" : "");
}

// How a Node.js folder installs its dependencies: with the package manager its lockfile belongs to,
// in that manager's frozen mode, so the image gets exactly the locked versions (or the build fails
// when the lockfile is out of date) instead of whatever resolves that day.
struct NodeInstall {
  std::string manager = "npm";  // "npm", "yarn" (classic), "yarn berry", "pnpm"
  std::string shown = "npm";    // for people: "npm", "Yarn 1", "Yarn 2+", "pnpm"
  std::string lockfile;         // "" when there is none
  std::string manifests;        // what to COPY before installing: "package.json yarn.lock"
  std::string install;          // every dependency, frozen
  std::string install_prod;     // runtime dependencies only, frozen
  std::string build;            // the build script, then dropping dev dependencies where possible
};

NodeInstall PlanNodeInstall(const Probe& p) {
  NodeInstall n;
  // yarn and pnpm come from corepack (shipped with Node.js), at the version package.json's
  // "packageManager" pins, else corepack's default.
  const std::string corepack = "corepack enable && ";
  if (p.Has("package-lock.json") || p.Has("npm-shrinkwrap.json")) {
    n.lockfile = p.Has("npm-shrinkwrap.json") ? "npm-shrinkwrap.json" : "package-lock.json";
    n.install = "npm ci";
    n.install_prod = "npm ci --omit=dev";
  } else if (p.Has("yarn.lock")) {
    n.lockfile = "yarn.lock";
    // Yarn 2+ ("berry") lockfiles start with __metadata and come with a .yarnrc.yml.
    const bool berry = p.Has(".yarnrc.yml") || p.Text("yarn.lock").find("__metadata:") != std::string::npos;
    n.manager = berry ? "yarn berry" : "yarn";
    n.shown = berry ? "Yarn 2+" : "Yarn 1";
    n.install = corepack + (berry ? "yarn install --immutable" : "yarn install --frozen-lockfile");
    // Berry has no production-only install without a plugin: the image keeps every dependency.
    n.install_prod = berry ? n.install : n.install + " --production";
  } else if (p.Has("pnpm-lock.yaml")) {
    n.lockfile = "pnpm-lock.yaml";
    n.manager = "pnpm";
    n.shown = "pnpm";
    n.install = corepack + "pnpm install --frozen-lockfile";
    n.install_prod = n.install + " --prod";
  } else {
    n.install = "npm install";
    n.install_prod = "npm install --omit=dev";
  }
  n.manifests = "package.json";
  for (const std::string& extra : {n.lockfile, std::string(".yarnrc.yml"), std::string("pnpm-workspace.yaml")})
    if (!extra.empty() && p.Has(extra)) n.manifests += " " + extra;
  if (n.manager == "pnpm") {
    n.build = "pnpm run build && pnpm prune --prod";
  } else if (n.manager == "yarn") {
    n.build = "yarn run build && yarn install --frozen-lockfile --production --ignore-scripts";
  } else if (n.manager == "yarn berry") {
    n.build = "yarn run build";
  } else {
    n.build = "npm run build && npm prune --omit=dev";
  }
  return n;
}

// A start script the image can run directly: words of ordinary characters, no shell syntax (pipes,
// &&, quotes, $VARS, redirections) and no leading VAR=value. Running it directly (instead of through
// `npm start` and a shell) lets SIGTERM reach the app when a release is retired.
bool PlainCommand(const std::string& script, std::vector<std::string>* argv) {
  argv->clear();
  std::string word;
  for (char c : script + " ") {
    if (c == ' ' || c == '\t') {
      if (!word.empty()) argv->push_back(word);
      word.clear();
    } else if (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./:=@,+%-", c) != nullptr) {
      word += c;
    } else {
      return false;
    }
  }
  return !argv->empty() && argv->size() <= 32 && (*argv)[0].find('=') == std::string::npos && (*argv)[0][0] != '-';
}

void DetectNode(const Probe& p, StackInfo* info) {
  info->stack = Stack::kNode;
  info->name = "node";
  info->port = 3000;
  const NodeInstall install = PlanNodeInstall(p);
  info->reason = "package.json found" +
                 (install.lockfile.empty() ? std::string(", no lockfile (npm install resolves versions at build time)")
                                           : ", " + install.lockfile + ": " + install.shown + " with a frozen lockfile");
  json pkg = json::parse(p.Text("package.json"), nullptr, false);
  if (!pkg.is_object()) {
    info->reason += " (but package.json is not valid JSON; assuming `npm start`)";
    pkg = json::object();
  }
  const json scripts = pkg.contains("scripts") && pkg["scripts"].is_object() ? pkg["scripts"] : json::object();
  std::vector<std::string> cmd = {"npm", "start"};
  if (scripts.contains("start") && scripts["start"].is_string()) {
    std::vector<std::string> argv;
    if (PlainCommand(scripts["start"].get<std::string>(), &argv)) {
      cmd = argv;
    } else {
      info->reason += "; the start script is not a plain command, so the image runs `npm start`, which may not "
                      "pass SIGTERM on to the app (make it e.g. \"node server.js\")";
    }
  } else {
    std::string main = pkg.contains("main") && pkg["main"].is_string() ? pkg["main"].get<std::string>() : "";
    for (const char* guess : {"server.js", "index.js", "app.js"})
      if (main.empty() && p.Has(guess)) main = guess;
    if (!main.empty() && SafeWord(main)) cmd = {"node", main};
  }
  info->vars["node_cmd"] = ExecForm(cmd);
  if (cmd[0] != "npm") Switch(info, "node_direct");
  if (!install.lockfile.empty()) Switch(info, "node_locked");
  info->vars["node_manifests"] = install.manifests;
  info->vars["node_install"] = install.install;
  info->vars["node_install_prod"] = install.install_prod;
  info->vars["node_build_cmd"] = install.build;
  if (scripts.contains("build")) {
    Switch(info, "node_build");
    info->reason += " (has a build script: multi-stage image)";
  }
  if (scripts.contains("test")) Switch(info, "node_test");
}

// Top-level requirements*.txt files, sorted: requirements.txt, requirements-dev.txt, ...
std::vector<std::string> RequirementFiles(const Probe& p) {
  std::vector<std::string> files;
  for (const auto& name : p.names)
    if (name.starts_with("requirements") && name.ends_with(".txt") && SafeWord(name)) files.push_back(name);
  return files;
}

bool LooksPython(const Probe& p) {
  for (const char* f : {"pyproject.toml", "Pipfile", "app.py", "main.py", "manage.py", "uv.lock", "poetry.lock"})
    if (p.Has(f)) return true;
  return !RequirementFiles(p).empty();
}

// The production requirements file: requirements.txt, else the first requirements*.txt that is not
// for development or tests (e.g. requirements-prod.txt).
std::string ProductionRequirements(const Probe& p) {
  if (p.Has("requirements.txt")) return "requirements.txt";
  for (const auto& f : RequirementFiles(p))
    if (f.find("dev") == std::string::npos && f.find("test") == std::string::npos) return f;
  return "";
}

// Sets the Python install switches and variables (see StackInfo::vars) for the folder's lockfile, in
// the order uv.lock, poetry.lock, Pipfile.lock, requirements*.txt, pyproject.toml. Returns the
// reason, or "" when the folder has no dependency file at all.
std::string DetectPythonInstall(const Probe& p, StackInfo* info) {
  info->vars["python_ci_run"] = "";
  if (p.Has("uv.lock") || p.Has("poetry.lock") || p.Has("Pipfile.lock")) Switch(info, "python_locked");
  if (p.Has("uv.lock")) {
    Switch(info, "python_uv");
    info->vars["python_ci_install"] = "pip install uv && uv sync --frozen";
    info->vars["python_ci_run"] = "uv run ";
    return "uv.lock found (uv sync --frozen)";
  }
  if (p.Has("poetry.lock")) {
    Switch(info, "python_poetry");
    info->vars["python_ci_install"] = "pip install poetry && poetry install --no-root --no-interaction";
    info->vars["python_ci_run"] = "poetry run ";
    return "poetry.lock found (poetry install, which refuses an out-of-date lock)";
  }
  if (p.Has("Pipfile.lock")) {
    Switch(info, "python_pipenv");
    info->vars["python_ci_install"] = "pip install pipenv && pipenv install --deploy --dev";
    info->vars["python_ci_run"] = "pipenv run ";
    return "Pipfile.lock found (pipenv install --deploy)";
  }
  const std::string requirements = ProductionRequirements(p);
  if (!requirements.empty()) {
    Switch(info, "python_requirements");
    info->vars["python_requirements_file"] = requirements;
    info->vars["python_ci_install"] = "pip install -r " + requirements;
    return requirements + " found";
  }
  if (p.Has("pyproject.toml")) {
    Switch(info, "python_pyproject");
    info->vars["python_ci_install"] = "pip install .";
    return "pyproject.toml found (no lockfile: pip install .)";
  }
  info->vars["python_ci_install"] = "python --version";
  return "";
}

void DetectPython(const Probe& p, StackInfo* info) {
  info->stack = Stack::kPython;
  info->name = "python";
  info->port = 8000;
  std::string deps = p.Text("pyproject.toml") + "\n" + p.Text("Pipfile");
  for (const auto& f : RequirementFiles(p)) deps += "\n" + p.Text(f);
  std::transform(deps.begin(), deps.end(), deps.begin(), [](unsigned char c) { return std::tolower(c); });
  auto uses = [&](const char* pkg) { return std::regex_search(deps, std::regex(std::string(R"((^|[\s"']))") + pkg + R"(\b)")); };
  std::string entry;
  for (const char* f : {"app.py", "main.py", "server.py", "wsgi.py"})
    if (entry.empty() && p.Has(f)) entry = f;
  std::string module = entry.empty() ? "app" : entry.substr(0, entry.size() - 3);
  std::vector<std::string> cmd;
  if (uses("gunicorn")) {
    cmd = {"gunicorn", "--bind", "0.0.0.0:8000", module + ":app"};
  } else if (uses("uvicorn")) {
    cmd = {"uvicorn", module + ":app", "--host", "0.0.0.0", "--port", "8000"};
  } else if (p.Has("manage.py")) {
    cmd = {"python", "manage.py", "runserver", "0.0.0.0:8000"};
  } else {
    cmd = {"python", entry.empty() ? "app.py" : entry};
  }
  info->vars["python_cmd"] = ExecForm(cmd);
  info->reason = DetectPythonInstall(p, info);
  if (info->reason.empty())
    info->reason = (entry.empty() ? std::string("manage.py") : entry) + " found (no dependency file)";
  if (p.Has("tests") || p.Has("test")) Switch(info, "python_tests");
  info->reason += "; runs " + cmd[0];
}

}  // namespace

bool IsStackProbeFile(const std::string& name) {
  for (const char* f : {"package.json", "go.mod", "CMakeLists.txt", "pyproject.toml", "Pipfile", "yarn.lock"})
    if (name == f) return true;
  return name.starts_with("requirements") && name.ends_with(".txt");
}

StackInfo DetectStack(const FolderListing& listing) {
  Probe p(listing);
  StackInfo info;
  // Every stack's variables exist (empty unless detected): a template's sections for other stacks
  // still name them, and RenderTemplate refuses unknown names.
  for (const char* name : {"cmake_target", "go_image", "node_cmd", "node_manifests", "node_install", "node_install_prod",
                           "node_build_cmd", "python_cmd", "python_requirements_file", "python_ci_install",
                           "python_ci_run"})
    info.vars[name] = "";
  if (p.Has("CMakeLists.txt")) {
    DetectCmake(p, &info);
  } else if (p.Has("go.mod")) {
    DetectGo(p, &info);
  } else if (p.Has("package.json")) {
    DetectNode(p, &info);
  } else if (LooksPython(p)) {
    DetectPython(p, &info);
  } else if (p.Has("index.html")) {
    info.stack = Stack::kStatic;
    info.name = "static";
    info.port = 8080;
    info.reason = "index.html found and no build files: served as a static site by nginx";
  } else {
    info.reason =
        "none of CMakeLists.txt, go.mod, package.json, requirements.txt, pyproject.toml, app.py, main.py or "
        "index.html is here";
  }
  info.vars["stack"] = info.name;
  info.vars["port"] = std::to_string(info.port);
  Switch(&info, "stack_" + info.name);
  return info;
}

std::string SanitizeAppName(std::string_view folder) {
  std::string out;
  for (char c : folder) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "app" : out;
}

}  // namespace bim
