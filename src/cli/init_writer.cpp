#include "cli/init_writer.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/paths.h"
#include "cli/app_folder.h"
#include "core/app_config.h"
#include "core/dotenv.h"

namespace bim {

namespace fs = std::filesystem;

namespace {

constexpr char kClaudeBegin[] = "<!-- bim:begin";
constexpr char kClaudeEnd[] = "<!-- bim:end -->";

// A file init means to write, fully rendered before anything touches the disk.
struct Planned {
  std::string path;      // relative
  std::string contents;
  std::string why;       // why this content (stack, source of values)
  bool append = false;   // CLAUDE.md: add to the user's file instead of replacing it
  bool skip = false;     // decided not to write; `why` says why
};

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::symlink_status(p, ec).type() != fs::file_type::not_found && !ec;
}

// Reads `path` if it exists. Sets *found; errors other than "missing" are returned.
Status ReadOptional(const std::string& path, std::string* text, bool* found) {
  Status s = ReadFile(path, text);
  *found = s.ok();
  if (s.IsNotFound()) return Status::OK();
  return s;
}

// Plans CLAUDE.md: a new file, the section appended once, or (with force) the section replaced.
Status PlanClaudeMd(const std::string& dir, const std::string& section, bool force, Planned* p) {
  p->path = "CLAUDE.md";
  std::string text;
  bool found = false;
  if (Status s = ReadOptional(dir + "/CLAUDE.md", &text, &found); !s.ok()) return s;
  if (!found) {
    p->contents = section;
    p->why = "how to deploy, check status and roll back with bim, for Claude Code";
    return Status::OK();
  }
  size_t begin = text.find(kClaudeBegin);
  if (begin == std::string::npos) {
    p->contents = text + (text.empty() || text.back() == '\n' ? "\n" : "\n\n") + section;
    p->append = true;
    p->why = "added the bim section (deploy, status, rollback) to your CLAUDE.md, between bim:begin/end markers";
    return Status::OK();
  }
  if (!force) {
    p->skip = true;
    p->why = "already has the bim section (--force to refresh it)";
    return Status::OK();
  }
  size_t end = text.find(kClaudeEnd, begin);
  end = end == std::string::npos ? text.size() : end + sizeof(kClaudeEnd) - 1;
  if (end < text.size() && text[end] == '\n') ++end;
  p->contents = text.substr(0, begin) + section + text.substr(end);
  p->append = true;
  p->why = "refreshed the bim section of your CLAUDE.md";
  return Status::OK();
}

}  // namespace

Status InitTemplateDir(const std::string& override_dir, std::string* out) {
  if (!override_dir.empty()) {
    *out = override_dir;
    return Status::OK();
  }
  *out = FindTemplateDir("init", "bim.toml.mustache");
  if (out->empty())
    return Status::NotFound("cannot find bim's init templates (templates/init next to the bim binary or in "
                            "its source tree); reinstall bim with its share/bim/templates directory");
  return Status::OK();
}

Status RenderInitTemplate(const std::string& template_dir, const std::string& name, const TemplateVars& vars,
                          std::string* out) {
  std::string path = template_dir + "/" + name;
  std::string text;
  if (Status s = ReadFile(path, &text); !s.ok()) return s.Wrap("init template");
  std::string rendered;
  if (Status s = RenderTemplate(path, text, vars, &rendered); !s.ok()) return s;
  // A section left out leaves its line break behind (the engine keeps it), so stacks of switches would
  // leave runs of empty lines: keep at most one, and end with exactly one line break.
  out->clear();
  for (char c : rendered) {
    if (c == '\n' && out->size() >= 2 && out->ends_with("\n\n")) continue;
    *out += c;
  }
  while (out->ends_with("\n\n")) out->pop_back();
  return Status::OK();
}

Status EnvExampleFromDotenv(const std::string& dotenv_text, std::string* out) {
  EnvList env;
  if (Status s = ParseDotenv(dotenv_text, &env); !s.ok()) return s;
  *out =
      "# The keys this app reads from .env (written by `bim init`; values are left out on purpose).\n"
      "# Copy this file to .env and fill in the values. Never commit .env.\n";
  for (const auto& var : env) *out += var.key + "=\n";
  return Status::OK();
}

Status ListFolder(const std::string& dir, FolderListing* out) {
  std::error_code ec;
  out->files.clear();
  out->contents.clear();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out->files.push_back(it->path().filename().string());
  if (ec) return Status::Internal("cannot list " + dir + ": " + ec.message());
  for (const auto& name : out->files) {
    if (!IsStackProbeFile(name) || !fs::is_regular_file(dir + "/" + name, ec)) continue;
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::string text(kMaxProbeBytes, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    out->contents[name] = std::move(text);
  }
  return Status::OK();
}

Status InitFolder(const InitOptions& options, InitReport* report) {
  if (!options.agent.empty() && options.agent != "claude")
    return Status::InvalidArgument("unknown --agent \"" + options.agent + "\" (supported: claude)");
  if (!options.ci.empty() && options.ci != "github" && options.ci != "drone")
    return Status::InvalidArgument("unknown --ci \"" + options.ci + "\" (supported: github, drone)");
  std::error_code ec;
  if (!fs::is_directory(options.dir, ec)) return Status::InvalidArgument("no such folder: " + options.dir);
  std::string dir = fs::absolute(options.dir).lexically_normal().string();
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string template_dir;
  if (Status s = InitTemplateDir(options.template_dir, &template_dir); !s.ok()) return s;

  FolderListing listing;
  if (Status s = ListFolder(dir, &listing); !s.ok()) return s;
  report->dir = dir;
  report->stack = DetectStack(listing);
  const StackInfo& stack = report->stack;

  // bim.toml, if the user has one, decides the app name and port every other file uses; else --app or
  // the folder's name, and the stack's usual port.
  AppFolder folder;
  folder.config.port = stack.port;
  if (Status s = LoadAppFolder(dir, options.app, &folder); !s.ok()) return s;
  const AppConfig& config = folder.config;
  const std::string app_why = folder.NameWhy();
  report->app = config.app;
  report->port = config.port;

  TemplateVars vars = stack.vars;
  vars["app"] = config.app;
  vars["port"] = std::to_string(config.port);
  vars["reason"] = stack.reason;
  // What bim.toml already says is kept when --force rewrites it.
  vars["health_path"] = config.health.path;
  vars["health_timeout"] = FormatDuration(config.health.timeout);
  std::string build_args;
  for (const auto& [name, value] : config.build_args)
    build_args += name + " = " + nlohmann::json(value).dump() + "\n";  // a JSON string is a TOML basic string
  vars["build_args"] = build_args;
  if (!build_args.empty()) vars["has_build_args"] = "true";

  std::vector<Planned> plan;
  auto render = [&](const std::string& path, const std::string& tmpl, const std::string& why) -> Status {
    Planned p{path, "", why};
    if (Status s = RenderInitTemplate(template_dir, tmpl, vars, &p.contents); !s.ok()) return s;
    plan.push_back(std::move(p));
    return Status::OK();
  };
  const std::string port_why = folder.has_config ? "from bim.toml"
                               : stack.stack == Stack::kUnknown ? "bim's default"
                                                                : "the " + stack.name + " default";
  Status s = render("bim.toml", "bim.toml.mustache", app_why + ", port " + std::to_string(config.port) + " (" + port_why + ")");
  if (s.ok())
    s = render("Dockerfile", "Dockerfile." + stack.name + ".mustache",
               stack.stack == Stack::kUnknown ? "unknown stack: a commented skeleton to fill in (" + stack.reason + ")"
                                              : "for the " + stack.name + " stack: " + stack.reason);
  if (s.ok())
    s = render(".dockerignore", "dockerignore.mustache",
               "keeps .env, .git and " + stack.name + " build outputs out of the image");
  if (!s.ok()) return s;

  std::string dotenv;
  bool have_env = false;
  if (Status e = ReadOptional(dir + "/.env", &dotenv, &have_env); !e.ok()) return e;
  Planned example{".env.example", "", ""};
  if (have_env) {
    if (Status e = EnvExampleFromDotenv(dotenv, &example.contents); !e.ok()) return e;
    example.why = "the keys of .env with their values left out";
  } else {
    example.skip = true;
    example.why = "there is no .env to list keys from";
  }
  plan.push_back(std::move(example));

  if (options.agent == "claude") {
    if (Status e = render(".claude/commands/deploy.md", "claude-deploy.md.mustache",
                          "a /deploy slash command for Claude Code: runs `bim deploy --json` and explains failures");
        !e.ok())
      return e;
    std::string section;
    if (Status e = RenderInitTemplate(template_dir, "claude-md-section.mustache", vars, &section); !e.ok()) return e;
    Planned p;
    if (Status e = PlanClaudeMd(dir, section, options.force, &p); !e.ok()) return e;
    plan.push_back(std::move(p));
  }
  if (options.ci == "github") {
    if (Status e = render(".github/workflows/deploy.yml", "github-deploy.yml.mustache",
                          "GitHub Actions: build and test, then `bim deploy --json` with secrets BIM_SERVER and BIM_TOKEN");
        !e.ok())
      return e;
  } else if (options.ci == "drone") {
    if (Status e = render(".drone.yml", "drone.yml.mustache",
                          "Drone: build and test, then `bim deploy --json` with secrets BIM_SERVER and BIM_TOKEN");
        !e.ok())
      return e;
  }

  for (Planned& p : plan) {
    const fs::path target = fs::path(dir) / p.path;
    const bool exists = Exists(target);
    InitFile file{p.path, "", p.why};
    if (p.skip) {
      file.action = "skipped";
    } else if (exists && !p.append && !options.force) {
      file.action = "skipped";
      file.why = "already exists (--force to replace it)";
    } else {
      if (Status e = MakeDirs(target.parent_path().string()); !e.ok()) return e;
      if (Status e = WriteFileAtomically(target.string(), p.contents, 0644); !e.ok()) return e;
      file.action = p.append ? "appended" : exists ? "overwritten" : "written";
    }
    report->files.push_back(std::move(file));
  }
  return Status::OK();
}

}  // namespace bim
