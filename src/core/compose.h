// Compose files: an app folder's compose.yaml (or compose.yml, docker-compose.yaml,
// docker-compose.yml) describes a whole backend, and `bim deploy` releases every service in it as one
// app. This is the pure part: the YAML text in, a validated ComposeProject out (yaml-cpp parses; no
// I/O here, the caller hands in the file's text and the env files it names).
//
// The keys bim deploys are the ones real backends use (README, "Apps with several services", has the
// table): top level `services`, `volumes`, `version` (obsolete, accepted as Compose accepts it) and
// `x-*` extension fields; per service `build`, `image`, `command`, `entrypoint`, `environment`,
// `env_file`, `volumes` (named volumes), `depends_on`, `healthcheck`, `restart`, `ports`, `expose`,
// `deploy` (`replicas`, `resources.limits`, `update_config.order`), `profiles`, `stop_grace_period`.
// Every other key is refused by name, with its line and a pointer to that table: a key bim would
// silently ignore (a bind mount, a network, a published host port on 0.0.0.0) is a surprise in
// production. YAML anchors, aliases and merge keys (`<<: *defaults`) work as in Compose.
//
// Variables: ${VAR}, $VAR, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
// ${VAR:+alt}, ${VAR+alt} and $$ (a literal $) are interpolated in values (not keys) from
// ComposeSource::variables, as Compose does with the shell and .env.
//
// Errors are InvalidArgument with one line: "compose.yaml line 7: services.web.networks is not
// supported by bim (see "Apps with several services" in the README for the keys bim deploys)".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/dotenv.h"
#include "core/status.h"

namespace bim {

// The file names Compose looks for, in its order of preference.
inline constexpr const char* kComposeFileNames[] = {"compose.yaml", "compose.yml", "docker-compose.yaml",
                                                    "docker-compose.yml"};

struct ComposeBuild {
  std::string context = ".";           // relative to the folder, normalised, never leaving it ("." or "web/api")
  std::string dockerfile = "Dockerfile";  // relative to the context
  std::map<std::string, std::string> args;
  bool operator==(const ComposeBuild&) const = default;
};

// Docker's HEALTHCHECK, as Compose writes it. test[0] is "CMD" or "CMD-SHELL"; a disabled check
// (`disable: true` or test ["NONE"]) is test {"NONE"}.
struct ComposeHealthcheck {
  std::vector<std::string> test;
  std::chrono::milliseconds interval{0};      // 0: Docker's default (30s)
  std::chrono::milliseconds timeout{0};       // 0: Docker's default (30s)
  std::chrono::milliseconds start_period{0};
  int retries = 0;                            // 0: Docker's default (3)
  bool operator==(const ComposeHealthcheck&) const = default;
};

// A named volume mounted into a service.
struct ComposeVolume {
  std::string source;                  // the top-level volume's name
  std::string target;                  // absolute path in the container
  bool read_only = false;
  bool operator==(const ComposeVolume&) const = default;
};

struct ComposeDependency {
  std::string service;
  bool healthy = false;                // condition: service_healthy (else service_started)
  bool operator==(const ComposeDependency&) const = default;
};

struct ComposeService {
  std::string name;                    // a DNS label: the name other services reach it by
  bool has_build = false;
  ComposeBuild build;
  std::string image;                   // with build: only names the image for Compose (bim tags its own)
  std::vector<std::string> command;    // exec form; a string is split like a shell would (no expansion)
  std::vector<std::string> entrypoint;
  EnvList environment;                 // env_file entries in order, then `environment` (later wins)
  std::vector<ComposeVolume> volumes;
  std::vector<ComposeDependency> depends_on;
  bool has_healthcheck = false;
  ComposeHealthcheck healthcheck;
  std::string restart;                 // "" (bim's default: unless-stopped), "no", "always", "on-failure", "unless-stopped"
  std::vector<int> ports;              // container ports from `ports` and `expose`, first mention first
  int replicas = 1;
  int64_t memory_bytes = 0;            // deploy.resources.limits; 0 = none
  int64_t nano_cpus = 0;
  int64_t pids = 0;
  std::string update_order;            // deploy.update_config.order: "", "start-first" or "stop-first"
  int stop_grace_seconds = -1;         // stop_grace_period; -1: bim's default
  std::vector<std::string> profiles;
};

struct ComposeProject {
  std::vector<ComposeService> services;  // in start order: every service after those it depends on
  std::vector<std::string> volumes;      // top-level named volumes, sorted
};

struct ComposeSource {
  std::string file_name = "compose.yaml";  // as found in the folder, for messages
  std::string text;                        // the file's contents
  // The env files services name (`env_file`), by path as written in the file, with their contents.
  // A path missing here is an error unless the entry says `required: false`.
  std::map<std::string, std::string> env_files;
  EnvList variables;                       // what ${VAR} expands to
  // false: a variable that is unset is "" even where ${VAR:?err} demands it (the CLI checks a file
  // before bimd, which also knows the app's stored env, interpolates it for real).
  bool require_variables = true;
  // Compose profiles to deploy: services with `profiles` run only if one of theirs is listed here.
  std::vector<std::string> profiles;
};

// Parses and validates `in` into *out. Services whose profiles are not active are left out (and
// depending on one of them is an error). InvalidArgument naming the line, key and fix otherwise.
Status ParseCompose(const ComposeSource& in, ComposeProject* out);

// The env files `yaml` refers to (each service's `env_file` paths, as written), so a caller can read
// them before ParseCompose. InvalidArgument if the text is not YAML, or a path is absolute or leaves
// the folder.
Status ComposeEnvFiles(std::string_view file_name, std::string_view yaml, std::vector<std::string>* paths);

// Whether `text` is the local-run file `bim init` writes (docker-compose.yml whose first line is
// "# Written by `bim ..."): it describes the single app for `bim up`, so `bim deploy` deploys such a
// folder as one app from its Dockerfile, as it does without a Compose file.
bool WrittenByBimInit(std::string_view text);

// --- Value syntax shared with other parts of bim (compose_values.cpp) ---

// Expands ${VAR} forms in `text` (see the header comment). `where` names the value for messages.
// InvalidArgument for a malformed reference or a ${VAR:?err} whose VAR is unset (when required).
Status Interpolate(std::string_view text, const EnvList& variables, bool require_variables, const std::string& where,
                   std::string* out);

// Compose durations: Go syntax, "1m30s", "10s", "500ms", "1h", "2.5s", "90" (seconds).
Status ParseComposeDuration(std::string_view text, std::chrono::milliseconds* out);

// Splits a command string the way Compose does (POSIX shell words: quotes, backslashes; no expansion).
Status SplitCommand(std::string_view text, std::vector<std::string>* out);

// Byte sizes as Compose writes them: "512m", "1g", "100k", "1.5gb", "2048" (bytes). Binary units.
Status ParseComposeBytes(std::string_view text, int64_t* out);

}  // namespace bim
