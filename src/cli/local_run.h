// `bim up` / `bim down`: run an app folder on this machine the way bimd runs it in production.
//
// Without a compose file of the user's own, bim builds and runs the app itself through the Docker
// Engine API, with production's rules: the same build context (PackContext: .dockerignore honoured,
// .env never sent), the same Dockerfile and bim.toml [build.args], the same .env parser and optional
// .env, Docker's init as PID 1. Only the routing differs: the container is published on
// 127.0.0.1:<port> (bim.toml's port) instead of behind bimd's nginx.
//
// A folder with a compose file the user wrote (compose.yaml, compose.yml, docker-compose.yaml or
// docker-compose.yml, not one carrying bim's "# Written by `bim" header) is run with Docker Compose
// instead, since it may describe several services. Compose is the `docker compose` plugin when the
// docker CLI has it, else Debian's `docker-compose`, started through the CommandRunner seam.
//
// Everything `up` creates is named after and labelled with a project name made from the app and the
// folder's absolute path (im.backend.bim.local=true, im.backend.bim.local.project=<project>), so two
// checkouts of one app do not collide and `down` removes exactly what `up` made.
#pragma once

#include <string>
#include <vector>

#include "cli/output.h"
#include "core/app_config.h"
#include "core/status.h"

namespace bim {

// Labels on everything `bim up` creates.
inline constexpr const char* kLocalLabel = "im.backend.bim.local";                 // "true"
inline constexpr const char* kLocalProjectLabel = "im.backend.bim.local.project";  // LocalProjectName

struct LocalRun {
  std::string dir;                   // absolute
  AppConfig config;                  // bim.toml with the app name settled (see LoadAppFolder)
  std::string project;               // LocalProjectName: the container's name and the image's repository
  std::string image;                 // "<project>:up" (bim's own run)
  std::string url;                   // http://127.0.0.1:<port>/
  std::string compose_file;          // the user's compose file; "" when bim runs the app itself
  std::vector<std::string> compose;  // {"docker", "compose"} or {"docker-compose"}, with compose_file
};

// "bim-<app>-<8 hex of a hash of abs_dir>": unique per folder, valid as a container name, an image
// repository and a compose project name.
std::string LocalProjectName(const std::string& abs_dir, const std::string& app);

// Works out how to run `dir`: bim.toml (optional), and either the user's compose file (then also finds
// a working compose program) or bim's own run from the Dockerfile. InvalidArgument for a missing folder,
// a bad bim.toml, or neither a compose file nor a Dockerfile (with the fix: `bim init`);
// FailedPrecondition when the folder needs compose and no compose program works here.
Status PrepareLocalRun(const std::string& dir, LocalRun* out);

// The commands. Exit codes as everywhere (output.h): 0 running and healthy / removed, 1 the build or
// the app failed (its last log lines are printed), 2 bad folder or config, 5 dockerd unreachable.
int RunUp(const Output& out, const std::string& dir);
// Stops and removes what `up` made for this folder; says so and exits 0 when nothing is there (also
// after a failed `up`).
int RunDown(const Output& out, const std::string& dir);

}  // namespace bim
