// The `init`, `up` and `down` commands: from a bare folder to an app that runs locally and deploys.
#include <cstdio>

#include "cli/command_registry.h"
#include "cli/init_compose.h"
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
  auto init_options = std::make_shared<InitOptions>();
  CLI::App* init = cli.add_subcommand(
      "init", "Write what this folder needs to run locally and deploy: bim.toml, Dockerfile (by detected stack), "
              ".dockerignore, .env.example, docker-compose.yml; never overwrites without --force");
  init->add_option("dir", init_options->dir, "App folder (default: .)");
  init->add_flag("--force", init_options->force, "Replace files that already exist");
  init->add_option("--agent", init_options->agent, "Also write agent files: claude (/deploy command, CLAUDE.md section)")
      ->check(CLI::IsMember({"claude"}));
  init->add_option("--ci", init_options->ci, "Also write a deploy workflow: github or drone")
      ->check(CLI::IsMember({"github", "drone"}));
  ctx.AddJsonFlag(init);
  init->callback([&ctx, init_options] { ctx.exit_code = RunInit(ctx.out(), *init_options); });

  auto up_dir = std::make_shared<std::string>(".");
  CLI::App* up = cli.add_subcommand(
      "up", "Build and run the app locally with Docker Compose (same .env and port as production) and print its URL");
  up->add_option("dir", *up_dir, "App folder (default: .)");
  ctx.AddJsonFlag(up);
  up->callback([&ctx, up_dir] { ctx.exit_code = RunUp(ctx.out(), *up_dir); });

  auto down_dir = std::make_shared<std::string>(".");
  CLI::App* down = cli.add_subcommand(
      "down", "Stop what `bim up` started and remove its containers, network and locally built image");
  down->add_option("dir", *down_dir, "App folder (default: .)");
  ctx.AddJsonFlag(down);
  down->callback([&ctx, down_dir] { ctx.exit_code = RunDown(ctx.out(), *down_dir); });
}

}  // namespace bim
