// `bim init`: the files an app folder needs to run locally and deploy with bim, written from the
// templates in templates/init (found next to the binary or in the source tree, see FindTemplateDir).
//
// Nothing existing is overwritten unless `force` is set; CLAUDE.md is the exception in that its
// marked bim section is appended (once) to a file the user already has. All files are rendered
// before the first is written, so a bad template or a bad .env/bim.toml writes nothing.
#pragma once

#include <string>
#include <vector>

#include "core/stack_detect.h"
#include "core/status.h"

namespace bim {

struct InitOptions {
  std::string dir = ".";
  std::string app;           // --app: the name to write into bim.toml ("" = bim.toml's, else the folder's)
  bool force = false;        // replace files that exist
  std::string agent;         // "" or "claude": also the /deploy command and the CLAUDE.md section
  std::string ci;            // "", "github" or "drone": also a deploy workflow
  std::string template_dir;  // "" = FindTemplateDir("init", ...)
};

struct InitFile {
  std::string path;    // relative to the folder, e.g. ".github/workflows/deploy.yml"
  std::string action;  // "written", "overwritten", "appended" or "skipped"
  std::string why;     // one line for people
};

struct InitReport {
  std::string dir;     // absolute
  StackInfo stack;
  std::string app;
  int port = 0;
  std::vector<InitFile> files;
};

// Writes what is missing in options.dir and describes each file in *report. Errors: InvalidArgument
// for a missing folder, a bad --agent/--ci value, or an unparseable bim.toml/.env (nothing written);
// NotFound when the templates cannot be found; Internal when a file cannot be written (files written
// before it stay, and are listed in *report).
Status InitFolder(const InitOptions& options, InitReport* report);

// Lists `dir`'s top-level entries and reads the start of its probe files (IsStackProbeFile) for DetectStack.
Status ListFolder(const std::string& dir, FolderListing* out);

// The directory holding the init templates, or NotFound with the fix.
Status InitTemplateDir(const std::string& override_dir, std::string* out);

// Reads <template_dir>/<name> and renders it with `vars` into *out, with runs of empty lines folded
// into one (sections that render nothing leave their line breaks behind).
Status RenderInitTemplate(const std::string& template_dir, const std::string& name, const TemplateVars& vars,
                          std::string* out);

// The names of .env's keys as .env.example lines ("KEY=\n"), with a header; never any value.
Status EnvExampleFromDotenv(const std::string& dotenv_text, std::string* out);

}  // namespace bim
