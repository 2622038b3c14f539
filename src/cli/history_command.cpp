// bim history APP: the app's git deployment history (one commit per release that went live, rollback,
// env change or destroy), newest first, like `git log --oneline` with dates.
#include <ctime>

#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

// "2024-05-01 12:03:04" in local time, like git log --date=iso without the zone.
std::string LocalTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

int RunHistory(const Output& out, const std::string& app, int limit) {
  ServerConfig server;
  Status s = ValidateAppName(app);
  if (s.ok()) s = LoadCredentials(&server);
  if (!s.ok()) return out.Fail(s);
  json body;
  std::string path = "/v1/apps/" + app + "/history" + (limit > 0 ? "?limit=" + std::to_string(limit) : "");
  if (!(s = ApiClient(server).Get(path, &body)).ok()) return out.Fail(s, json{{"app", app}});
  json commits = body.value("commits", json::array());
  out.Json(json{{"ok", true}, {"app", app}, {"commits", commits}});
  if (commits.empty()) {
    out.Text("No deployment history for " + app + " yet (a commit is made each time a release goes live).\n");
    return exit_code::kOk;
  }
  std::string text;
  for (const auto& c : commits)
    text += c.value("sha", "").substr(0, 7) + " " + LocalTime(c.value("time_ms", int64_t{0})) + "  " +
            c.value("summary", "") + "\n";
  out.Text(text);
  return exit_code::kOk;
}

}  // namespace

void AddHistoryCommand(CLI::App& cli, CliContext& ctx) {
  static std::string app;
  static int limit = 0;
  auto* history = cli.add_subcommand("history", "Show an app's deployment history (a git commit per release), newest first");
  history->add_option("app", app, "App name")->required();
  history->add_option("--limit", limit, "Show at most N commits (0: all)")->check(CLI::NonNegativeNumber);
  ctx.AddJsonFlag(history);
  history->callback([&ctx] { ctx.exit_code = RunHistory(ctx.out(), app, limit); });
}

}  // namespace bim
