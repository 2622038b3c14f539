// bim: deploy the app in this folder to a bimd server and manage it there.
#include <signal.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

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
  bool json = false;
  cli.add_flag("--json", json, "Print one JSON document on stdout instead of text")->configurable(false);
  // Subcommands accept --json too, so `bim deploy --json` works as well as `bim --json deploy`.
  auto json_flag = [&](CLI::App* sub) { sub->add_flag("--json", json, "Print one JSON document on stdout"); };

  std::string url, token;
  auto* login = cli.add_subcommand("login", "Save the server URL and token for later commands");
  login->add_option("url", url, "bimd's API address, e.g. http://127.0.0.1:7878")->required();
  login->add_option("--token", token, "API token (bimd writes the admin token to <data-dir>/admin.token); - reads stdin")
      ->required();
  json_flag(login);

  DeployFlags deploy_flags;
  bool no_wait = false;
  auto* deploy = cli.add_subcommand("deploy", "Build the folder's app on the server, health-check it and switch traffic to it");
  deploy->add_option("dir", deploy_flags.dir, "App folder with a Dockerfile (default: .)");
  deploy->add_option("--app", deploy_flags.app, "App name (default: bim.toml's app, else the folder name)");
  deploy->add_flag("--no-wait", no_wait, "Fail at once if another deploy of this app is running");
  json_flag(deploy);

  auto* apps = cli.add_subcommand("apps", "List apps with their live release");
  json_flag(apps);

  auto* server = cli.add_subcommand("server", "Show which bimd this CLI talks to and where it serves apps");
  json_flag(server);

  std::string app;
  auto* status = cli.add_subcommand("status", "Show an app's live release, container state and restarts");
  status->add_option("app", app, "App name")->required();
  json_flag(status);

  int limit = 0;
  auto* releases = cli.add_subcommand("releases", "List an app's releases, newest first, with failure reasons");
  releases->add_option("app", app, "App name")->required();
  releases->add_option("--limit", limit, "Show at most N releases");
  json_flag(releases);

  int tail = 100;
  bool follow = false;
  auto* logs = cli.add_subcommand("logs", "Print the live release's container logs");
  logs->add_option("app", app, "App name")->required();
  logs->add_option("--tail,-n", tail, "Number of lines from the end")->capture_default_str();
  logs->add_flag("-f,--follow", follow, "Keep printing new lines");
  json_flag(logs);

  bool yes = false;
  auto* destroy = cli.add_subcommand("destroy", "Remove an app: route, containers, images and history");
  destroy->add_option("app", app, "App name")->required();
  destroy->add_flag("--yes,-y", yes, "Do not ask for confirmation");
  json_flag(destroy);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);  // --help
    std::fprintf(stderr, "error: %s (see `bim %s--help`)\n", e.what(),
                 cli.get_subcommands().empty() ? "" : (cli.get_subcommands()[0]->get_name() + " ").c_str());
    return exit_code::kUsage;
  }
  Output out(json);
  if (*login) return RunLogin(out, url, token);
  if (*deploy) {
    deploy_flags.wait = !no_wait;
    return RunDeploy(out, deploy_flags);
  }
  if (*apps) return RunApps(out);
  if (*server) return RunServer(out);
  if (*status) return RunStatus(out, app);
  if (*releases) return RunReleases(out, app, limit);
  if (*logs) return RunLogs(out, app, tail, follow);
  if (*destroy) return RunDestroy(out, app, yes);
  return exit_code::kUsage;
}
