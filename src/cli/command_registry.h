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

void AddCoreCommands(CLI::App& cli, CliContext& ctx);      // login, deploy, apps, status, releases, logs, destroy, server (commands.cpp)
void AddReleaseCommands(CLI::App& cli, CliContext& ctx);   // rollback, scale, env (release_commands.cpp)
void AddClusterCommands(CLI::App& cli, CliContext& ctx);   // nodes (cluster_commands.cpp)
void AddSecurityCommands(CLI::App& cli, CliContext& ctx);  // token, audit (security_commands.cpp)
void AddInitCommands(CLI::App& cli, CliContext& ctx);      // init, up, down (init_commands.cpp)
void AddMcpCommand(CLI::App& cli, CliContext& ctx);        // mcp (mcp_command.cpp)
void AddHistoryCommand(CLI::App& cli, CliContext& ctx);    // history (history_command.cpp)
void AddDomainCommands(CLI::App& cli, CliContext& ctx);    // domains, certs (domain_commands.cpp)
void AddVolumeCommands(CLI::App& cli, CliContext& ctx);    // volumes, backup, restore (volume_commands.cpp)
void AddOpenCommand(CLI::App& cli, CliContext& ctx);       // open (open_command.cpp)

// Every command group above, and the global --json flag: the whole `bim` command line. Commands keep
// their options in statics, so build one CLI per process (tests may build more, one at a time).
void AddAllCommands(CLI::App& cli, CliContext& ctx);

// Checks the command words in argv (the words before a command's own arguments, e.g. "env" and "set"
// in `bim env set hello A=1`) against the commands `cli` knows, before CLI11 parses them (CLI11 only
// says "A subcommand is required"). OK if they all exist; otherwise InvalidArgument naming the
// unknown word and, when one is close, the command meant, the way git and gh do:
//   unknown command "statu" for "bim"; did you mean "bim status"? (`bim --help` lists the commands)
Status CheckCommandWords(CLI::App& cli, int argc, const char* const* argv);

}  // namespace bim
