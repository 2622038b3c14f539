// `bim nodes`: the hosts apps run on (Swarm's nodes, or the one host), their state and bim's
// instances on each, with a warning for a host that is down or cannot pull bimd's images.
#include <map>

#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"

namespace bim {

using nlohmann::json;

namespace {

int RunNodes(const Output& out) {
  ServerConfig server;
  Status s = LoadCredentials(&server);
  if (!s.ok()) return out.Fail(s);
  json body;
  if (!(s = ApiClient(server).Get("/v1/nodes", &body)).ok()) return out.Fail(s);
  body["ok"] = true;
  out.Json(body);
  std::string text = body.value("engine", "") == "swarm"
                         ? "Docker Swarm; images from bimd's registry at " + body.value("registry", "") + "\n"
                         : "One host (no cluster: bimd runs apps on its own dockerd)\n";
  text += Column("HOST", 22) + Column("ADDRESS", 16) + Column("ROLE", 9) + Column("STATE", 8) +
          Column("AVAILABILITY", 13) + "APP TASKS\n";
  std::string warnings;
  for (const json& n : body.value("nodes", json::array())) {
    std::map<std::string, int> per_app;
    for (const json& t : n.value("tasks", json::array()))
      if (t.value("state", "") == "running") ++per_app[t.value("app", "") + " " + t.value("release", "")];
    std::string tasks;
    for (const auto& [app, count] : per_app) tasks += (tasks.empty() ? "" : ", ") + app + (count > 1 ? " x" + std::to_string(count) : "");
    std::string role = n.value("role", "") + (n.value("leader", false) ? "*" : "");
    text += Column(n.value("hostname", ""), 22) + Column(n.value("address", ""), 16) + Column(role, 9) +
            Column(n.value("state", ""), 8) + Column(n.value("availability", ""), 13) + (tasks.empty() ? "-" : tasks) +
            "\n";
    if (!n.value("warning", "").empty()) warnings += "warning: " + n.value("hostname", "") + ": " + n.value("warning", "") + "\n";
  }
  out.Text(text + warnings);
  return exit_code::kOk;
}

}  // namespace

void AddClusterCommands(CLI::App& cli, CliContext& ctx) {
  auto* nodes = cli.add_subcommand("nodes", "List the hosts apps run on, their state and the app tasks on each");
  ctx.AddJsonFlag(nodes);
  nodes->callback([&ctx] { ctx.exit_code = RunNodes(ctx.out()); });
}

}  // namespace bim
