// How command groups plug into the bim CLI. Each group (commands.cpp, deploy_command.cpp, ...) has one
// AddXCommands function that adds its subcommands to the CLI11 app and sets their callbacks; a
// callback stores its exit code in ctx.exit_code. main.cpp calls every AddXCommands.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/output.h"

namespace bim {

struct CliContext {
  bool json = false;   // --json, before or after the subcommand
  int exit_code = 0;
  Output out() const { return Output(json); }
  // Adds --json to a subcommand (so `bim deploy --json` works as well as `bim --json deploy`).
  void AddJsonFlag(CLI::App* sub) { sub->add_flag("--json", json, "Print one JSON document on stdout"); }
};

void AddCoreCommands(CLI::App& cli, CliContext& ctx);  // login, deploy, apps, status, releases, logs, destroy, server

}  // namespace bim
