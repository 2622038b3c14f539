// An app folder's settings as every command reads them (`bim deploy`, `bim up`, `bim init`, MCP
// deploy): bim.toml if present, and the app's name from --app, else bim.toml's `app`, else the folder's
// own name. One home for these rules so the commands cannot drift apart.
#pragma once

#include <string>

#include "core/app_config.h"
#include "core/dotenv.h"
#include "core/status.h"

namespace bim {

// The folder's own name: the last component of its absolute, normalised path, so ".", "..", "./"
// and "../api/" name the folder they point at. "" for "/".
std::string FolderName(const std::string& dir);

// Where LoadAppFolder found the app's name.
enum class AppNameSource { kFlag, kConfig, kFolder };

struct AppFolder {
  AppConfig config;                 // bim.toml over the defaults the caller put in *out before the call
  bool has_config = false;          // bim.toml exists
  AppNameSource name_source = AppNameSource::kFolder;
  // One line for people on where the name came from: "app \"my-api\" from the folder name".
  std::string NameWhy() const;
};

// Reads `dir`/bim.toml (optional) over out->config and settles the app name: `app_flag`, else bim.toml's
// app, else the folder name made into a DNS label (SanitizeAppName: "My_API" -> "my-api").
// InvalidArgument for a missing folder, a bad bim.toml, a bad --app, or a folder name with nothing
// usable in it (with the fix: set app in bim.toml or pass --app); Internal if bim.toml is unreadable.
Status LoadAppFolder(const std::string& dir, const std::string& app_flag, AppFolder* out);

// The folder's .env (optional: a folder without one has an empty env, as in production), parsed with
// the same rules bimd applies (core/dotenv.h). Sets *found when the file exists. InvalidArgument naming
// the line for a malformed .env; Internal if it cannot be read.
Status LoadDotenv(const std::string& dir, EnvList* env, bool* found = nullptr);

}  // namespace bim
