#include "cli/app_folder.h"

#include <filesystem>

#include "base/file_util.h"
#include "core/stack_detect.h"
#include "core/validate.h"

namespace bim {

namespace fs = std::filesystem;

std::string FolderName(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir.empty() ? "." : dir, ec).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "/x/y/" (from "." or "..") names y
  return p.filename().string();
}

std::string AppFolder::NameWhy() const {
  const std::string quoted = "app \"" + config.app + "\"";
  switch (name_source) {
    case AppNameSource::kFlag: return quoted + " from --app";
    case AppNameSource::kConfig: return quoted + " from bim.toml";
    case AppNameSource::kFolder: break;
  }
  return quoted + " from the folder name";
}

Status LoadAppFolder(const std::string& dir, const std::string& app_flag, AppFolder* out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument("no such folder: " + dir);
  std::string text;
  Status s = ReadFile(dir + "/bim.toml", &text);
  out->has_config = s.ok();
  if (s.ok()) {
    if (!(s = ParseAppConfig(text, &out->config)).ok()) return s;
  } else if (!s.IsNotFound()) {
    return s;
  }
  if (!app_flag.empty()) {
    if (!(s = ValidateAppName(app_flag)).ok()) return s.Wrap("--app");
    out->config.app = app_flag;
    out->name_source = AppNameSource::kFlag;
    return Status::OK();
  }
  if (!out->config.app.empty()) {
    out->name_source = AppNameSource::kConfig;
    return Status::OK();
  }
  const std::string folder = FolderName(dir);
  const std::string name = SanitizeAppName(folder);
  if (name == "app" && folder != "app")  // nothing usable in the folder's name
    return Status::InvalidArgument("folder name \"" + folder + "\" makes no app name; set app = \"my-app\" in "
                                   "bim.toml or pass --app NAME ([a-z0-9-], 1-63 chars)");
  out->config.app = name;
  out->name_source = AppNameSource::kFolder;
  return Status::OK();
}

Status LoadDotenv(const std::string& dir, EnvList* env, bool* found) {
  env->clear();
  std::string text;
  Status s = ReadFile(dir + "/.env", &text);
  if (found) *found = s.ok();
  if (s.IsNotFound()) return Status::OK();
  if (!s.ok()) return s;
  return ParseDotenv(text, env);
}

}  // namespace bim
