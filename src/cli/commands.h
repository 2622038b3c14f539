// The bim commands. Each returns the process exit code and prints through Output.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/output.h"
#include "core/status.h"

namespace bim {

struct DeployFlags {
  std::string dir = ".";
  std::string app;        // --app overrides bim.toml and the folder name
  bool wait = true;       // --no-wait: fail at once if the app is busy
  std::string build = "server";  // --build local: build with this machine's Docker, send missing layers
  bool wait_watch = false;  // --wait-watch: stay until the watch after the switch is over
};

// Where a deploy reports its progress while it runs. Both members may be empty.
struct ProgressSink {
  // One human line ("==> Packed 3 files ...", "    | <build output>").
  std::function<void(const std::string& line)> line;
  // Upload progress: bytes sent so far of total, to server_url. Called many times per percent.
  std::function<void(int64_t sent, int64_t total, const std::string& server_url)> upload;
};

// Deploys the app folder flags.dir the way `bim deploy` does (bim.toml, .env, pack, upload, stream
// bimd's events) and fills *result with the JSON document `bim deploy --json` prints, without "ok" and
// "error": app, url, duration_ms, release, details; when the release ran and failed also "logs" (the
// container's last lines) and "build_output_tail". Returns OK when the release is live; otherwise the
// failure (bad folder or config, not logged in, bimd unreachable, build error, unhealthy release).
Status DeployFolder(const DeployFlags& flags, const ProgressSink& progress, nlohmann::json* result);

int RunLogin(const Output& out, const std::string& url, const std::string& token);
int RunDeploy(const Output& out, const DeployFlags& flags);
int RunApps(const Output& out);
int RunServer(const Output& out);
int RunStatus(const Output& out, const std::string& app);
int RunReleases(const Output& out, const std::string& app, int limit);
int RunLogs(const Output& out, const std::string& app, const std::string& service, int tail, bool follow);
int RunDestroy(const Output& out, const std::string& app, bool yes, bool volumes);

}  // namespace bim
