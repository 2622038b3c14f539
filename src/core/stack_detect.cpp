#include "core/stack_detect.h"

#include <algorithm>
#include <cctype>
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
  std::string version = "1.22";
  std::smatch m;
  const std::string text = p.Text("go.mod");
  static const std::regex kGo(R"((^|\n)\s*go\s+(\d+)\.(\d+))");
  if (std::regex_search(text, m, kGo)) version = std::string(m[2]) + "." + std::string(m[3]);
  info->vars["go_image"] = "golang:" + version;
  info->reason = "go.mod found (Go " + version + ")";
}

void DetectNode(const Probe& p, StackInfo* info) {
  info->stack = Stack::kNode;
  info->name = "node";
  info->port = 3000;
  info->reason = "package.json found";
  json pkg = json::parse(p.Text("package.json"), nullptr, false);
  if (!pkg.is_object()) {
    info->reason += " (but it is not valid JSON; assuming `npm start`)";
    pkg = json::object();
  }
  const json scripts = pkg.contains("scripts") && pkg["scripts"].is_object() ? pkg["scripts"] : json::object();
  std::vector<std::string> cmd = {"npm", "start"};
  if (!scripts.contains("start")) {
    std::string main = pkg.contains("main") && pkg["main"].is_string() ? pkg["main"].get<std::string>() : "";
    for (const char* guess : {"server.js", "index.js", "app.js"})
      if (main.empty() && p.Has(guess)) main = guess;
    if (!main.empty()) cmd = {"node", main};
  }
  info->vars["node_cmd"] = ExecForm(cmd);
  info->vars["node_install"] = p.Has("package-lock.json") ? "npm ci" : "npm install";
  if (scripts.contains("build")) {
    Switch(info, "node_build");
    info->reason += " (has a build script: multi-stage image)";
  }
  if (scripts.contains("test")) Switch(info, "node_test");
}

bool LooksPython(const Probe& p) {
  for (const char* f : {"requirements.txt", "pyproject.toml", "Pipfile", "app.py", "main.py", "manage.py"})
    if (p.Has(f)) return true;
  return false;
}

void DetectPython(const Probe& p, StackInfo* info) {
  info->stack = Stack::kPython;
  info->name = "python";
  info->port = 8000;
  std::string deps = p.Text("requirements.txt") + "\n" + p.Text("pyproject.toml");
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
  if (p.Has("requirements.txt")) {
    Switch(info, "python_requirements");
    info->reason = "requirements.txt found";
  } else if (p.Has("pyproject.toml")) {
    Switch(info, "python_pyproject");
    info->reason = "pyproject.toml found";
  } else {
    info->reason = (entry.empty() ? std::string("manage.py") : entry) + " found (no requirements.txt)";
  }
  if (p.Has("tests") || p.Has("test")) Switch(info, "python_tests");
  info->reason += "; runs " + cmd[0];
}

}  // namespace

const std::vector<std::string>& StackProbeFiles() {
  static const std::vector<std::string> kFiles = {"package.json", "go.mod", "CMakeLists.txt", "requirements.txt",
                                                  "pyproject.toml"};
  return kFiles;
}

StackInfo DetectStack(const FolderListing& listing) {
  Probe p(listing);
  StackInfo info;
  // Every stack's variables exist (empty unless detected): a template's sections for other stacks
  // still name them, and RenderTemplate refuses unknown names.
  for (const char* name : {"cmake_target", "go_image", "node_cmd", "node_install", "python_cmd"}) info.vars[name] = "";
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
