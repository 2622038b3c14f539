// The `init`, `up` and `down` commands: from a bare folder to an app that runs locally and deploys.
#include <cstdio>

#include "cli/command_registry.h"
#include "cli/local_run.h"
#include "cli/init_writer.h"

namespace bim {

namespace {

int RunInit(const Output& out, const InitOptions& options) {
  InitReport report;
  Status s = InitFolder(options, &report);
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json written = nlohmann::json::array(), skipped = nlohmann::json::array();
  for (const auto& f : report.files) {
    files.push_back({{"path", f.path}, {"action", f.action}, {"why", f.why}});
    (f.action == "skipped" ? skipped : written).push_back(f.path);
  }
  nlohmann::json doc{{"dir", report.dir},       {"stack", report.stack.name}, {"reason", report.stack.reason},
                     {"app", report.app},       {"port", report.port},        {"files", files},
                     {"written", written},      {"skipped", skipped}};
  if (!s.ok()) return out.Fail(s, doc);
  doc["ok"] = true;
  out.Json(doc);

  std::string text;
  bool wrote_dockerfile = false;
  for (const auto& f : report.files) wrote_dockerfile |= f.path == "Dockerfile" && f.action != "skipped";
  if (report.stack.stack == Stack::kUnknown)
    text += "Could not tell what kind of app this is: " + report.stack.reason + ".\n" +
            (wrote_dockerfile ? "The Dockerfile is a commented skeleton: fill it in, then run `bim up`.\n"
                              : "Your Dockerfile is kept; the other files use bim's default port unless bim.toml "
                                "says otherwise.\n");
  else
    text += "Detected a " + report.stack.name + " app: " + report.stack.reason + ".\n";
  for (const auto& f : report.files) {
    char line[96];
    std::snprintf(line, sizeof line, "  %-11s %-28s ", f.action.c_str(), f.path.c_str());
    text += line + f.why + "\n";
  }
  text += "\nNext: `bim up` runs it at http://127.0.0.1:" + std::to_string(report.port) +
          "/, `bim deploy` ships it.\n";
  out.Text(text);
  return exit_code::kOk;
}

}  // namespace

void AddInitCommands(CLI::App& cli, CliContext& ctx) {
  // Options outlive parse(), like every command group's: callbacks run during parse and read them.
  static InitOptions init_options_storage;
  static std::string up_dir_storage, down_dir_storage;
  init_options_storage = InitOptions();
  up_dir_storage = down_dir_storage = ".";
  InitOptions* init_options = &init_options_storage;
  CLI::App* init = cli.add_subcommand(
      "init", "Write what this folder needs to run locally and deploy: bim.toml, Dockerfile (by detected stack), "
              ".dockerignore, .env.example; never overwrites without --force");
  init->add_option("dir", init_options->dir, "App folder (default: .)");
  init->add_option("--app", init_options->app, "App name for bim.toml (default: the folder's name)");
  init->add_flag("--force", init_options->force, "Replace files that already exist");
  init->add_option("--agent", init_options->agent, "Also write agent files: claude (/deploy command, CLAUDE.md section)")
      ->check(CLI::IsMember({"claude"}));
  init->add_option("--ci", init_options->ci, "Also write a deploy workflow: github or drone")
      ->check(CLI::IsMember({"github", "drone"}));
  ctx.AddJsonFlag(init);
  init->callback([&ctx, init_options] { ctx.exit_code = RunInit(ctx.out(), *init_options); });

  std::string* up_dir = &up_dir_storage;
  CLI::App* up = cli.add_subcommand(
      "up", "Build and run the app locally the way bimd does (same Dockerfile, build args and .env), on "
            "127.0.0.1:<port>, and print its URL; a folder with its own compose file runs with Docker Compose");
  up->add_option("dir", *up_dir, "App folder (default: .)");
  ctx.AddJsonFlag(up);
  up->callback([&ctx, up_dir] { ctx.exit_code = RunUp(ctx.out(), *up_dir); });

  std::string* down_dir = &down_dir_storage;
  CLI::App* down = cli.add_subcommand(
      "down", "Stop what `bim up` started here and remove its container and locally built image");
  down->add_option("dir", *down_dir, "App folder (default: .)");
  ctx.AddJsonFlag(down);
  down->callback([&ctx, down_dir] { ctx.exit_code = RunDown(ctx.out(), *down_dir); });
}

}  // namespace bim
