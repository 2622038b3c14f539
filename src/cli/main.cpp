// bim: deploy the app in this folder to a bimd server and manage it there.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command_registry.h"

using namespace bim;

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  CLI::App cli{"bim: from an app folder to a live URL in one command.\n\n"
               "  bim login http://127.0.0.1:7878 --token $(cat /var/lib/bim/admin.token)\n"
               "  bim deploy                 # build, start, health-check and route the app in this folder\n"
               "  bim status hello           # what is live and whether it is running\n\n"
               "Every command takes --json (one JSON document on stdout). Exit codes: 0 ok, 1 failed,\n"
               "2 bad input, 3 auth, 4 not found, 5 bimd unreachable, 6 busy, 130 interrupted.\n"
               "Server and token come from BIM_SERVER/BIM_TOKEN, else from `bim login`.",
               "bim"};
  cli.require_subcommand(1);
  CliContext ctx;
  cli.add_flag("--json", ctx.json, "Print one JSON document on stdout instead of text");
  AddCoreCommands(cli, ctx);
  AddReleaseCommands(cli, ctx);
  AddSecurityCommands(cli, ctx);
  AddInitCommands(cli, ctx);
  AddMcpCommand(cli, ctx);
  AddHistoryCommand(cli, ctx);
  AddDomainCommands(cli, ctx);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);  // --help
    std::string sub = cli.get_subcommands().empty() ? "" : cli.get_subcommands()[0]->get_name() + " ";
    std::fprintf(stderr, "error: %s (see `bim %s--help`)\n", e.what(), sub.c_str());
    return exit_code::kUsage;
  }
  return ctx.exit_code;
}
