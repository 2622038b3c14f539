#include "cli/command_registry.h"

#include "core/suggest.h"

namespace bim {

void AddAllCommands(CLI::App& cli, CliContext& ctx) {
  cli.require_subcommand(1);
  cli.add_flag("--json", ctx.json, "Print one JSON document on stdout instead of text");
  AddCoreCommands(cli, ctx);
  AddReleaseCommands(cli, ctx);
  AddSecurityCommands(cli, ctx);
  AddInitCommands(cli, ctx);
  AddMcpCommand(cli, ctx);
  AddHistoryCommand(cli, ctx);
  AddClusterCommands(cli, ctx);
  AddDomainCommands(cli, ctx);
  AddVolumeCommands(cli, ctx);
  AddOpenCommand(cli, ctx);
}

Status CheckCommandWords(CLI::App& cli, int argc, const char* const* argv) {
  CLI::App* app = &cli;
  std::string path = cli.get_name().empty() ? "bim" : cli.get_name();
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") break;
    if (word.starts_with("-")) continue;  // flags: the command groups take none with a separate value
    std::vector<CLI::App*> subs = app->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) break;              // a command: what follows are its own arguments
    CLI::App* next = nullptr;
    std::vector<std::string> names;
    for (CLI::App* sub : subs) {
      if (sub->check_name(word)) next = sub;
      names.push_back(sub->get_name());
    }
    if (next == nullptr) {
      // A group that also takes arguments itself (`bim domains APP`): the word is one of them.
      if (!app->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) break;
      std::string meant = ClosestMatch(word, names);
      return Status::InvalidArgument("unknown command \"" + word + "\" for \"" + path + "\"" +
                                     (meant.empty() ? "" : "; did you mean \"" + path + " " + meant + "\"?") +
                                     " (`" + path + " --help` lists the commands)");
    }
    app = next;
    path += " " + next->get_name();
  }
  return Status::OK();
}

}  // namespace bim
