// bim: deploy the app in this folder to a bimd server and manage it there.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string_view>

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
  CliContext ctx;
  AddAllCommands(cli, ctx);

  // Usage errors honour --json too: one line on stderr and, with --json, {"ok":false,...} on stdout.
  bool json = false;
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) json |= std::string_view(argv[i]) == "--json";
  if (Status s = CheckCommandWords(cli, argc, argv); !s.ok()) return Output(json).Fail(s);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);  // --help
    std::string sub;
    for (const CLI::App* app = &cli; !app->get_subcommands().empty(); app = app->get_subcommands()[0])
      sub += app->get_subcommands()[0]->get_name() + " ";
    return Output(json).Fail(Status::InvalidArgument(std::string(e.what()) + " (see `bim " + sub + "--help`)"));
  }
  return ctx.exit_code;
}
