// The bim commands. Each returns the process exit code and prints through Output.
#pragma once

#include <string>

#include "cli/output.h"

namespace bim {

struct DeployFlags {
  std::string dir = ".";
  std::string app;        // --app overrides bim.toml and the folder name
  bool wait = true;       // --no-wait: fail at once if the app is busy
};

int RunLogin(const Output& out, const std::string& url, const std::string& token);
int RunDeploy(const Output& out, const DeployFlags& flags);
int RunApps(const Output& out);
int RunServer(const Output& out);
int RunStatus(const Output& out, const std::string& app);
int RunReleases(const Output& out, const std::string& app, int limit);
int RunLogs(const Output& out, const std::string& app, int tail, bool follow);
int RunDestroy(const Output& out, const std::string& app, bool yes);

}  // namespace bim
