// `bim rollback`, `bim scale` and `bim env`: releases that reuse an image, streamed like a deploy.
#include <cstdio>

#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"
#include "core/deploy_plan.h"
#include "core/dotenv.h"
#include "core/placement.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

// Shows a release stream's progress and turns its result event into the command's output.
int RunReleaseStream(const Output& out, const std::string& app, const std::string& path, const json& body,
                     const std::string& done_verb) {
  InterruptTransfersOnCtrlC();
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  long long t0 = MonotonicMillis();
  json result;
  s = ApiClient(server).PostStream(path, body, [&](const json& e) {
    std::string kind = e.value("event", "");
    if (kind == "release") out.Progress("==> Release " + e.value("release", "") + " of " + app + " (" + e.value("kind", "") + ")");
    else if (kind == "step") out.Progress("    " + e.value("message", ""));
    else if (kind == "result") result = e;
  });
  if (!s.ok()) return out.Fail(s, json{{"app", app}});
  if (result.is_null()) return out.Fail(Status::Unavailable("bimd ended the stream without a result (see its log)"));
  long long elapsed = MonotonicMillis() - t0;
  json doc{{"app", app}, {"url", result.value("url", "")}, {"duration_ms", elapsed}};
  if (result.contains("release")) {
    doc["release"] = result["release"].value("release", "");
    doc["details"] = result["release"];
  }
  if (!result.value("ok", false)) {
    const json& err = result["error"];
    doc["logs"] = result.value("logs", json::array());
    int code = out.Fail(Status(Status::CodeFromName(err.value("code", "failed")), err.value("message", "failed")), doc);
    out.LogLines("last log lines:", doc["logs"]);
    return code;
  }
  doc["ok"] = true;
  out.Json(doc);
  if (doc.contains("release"))
    out.Text(app + " " + doc.value("release", "") + " is live at " + doc.value("url", "") + " (" + done_verb + " in " +
             HumanMillis(elapsed) + ")\n");
  else
    out.Text("Stored for " + app + "; nothing is live yet, so the next deploy will use it\n");
  return exit_code::kOk;
}

// Splits "KEY=VALUE" arguments; the value may contain '='.
Status ParseAssignments(const std::vector<std::string>& args, json* set) {
  *set = json::array();
  for (const auto& arg : args) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos)
      return Status::InvalidArgument("\"" + arg.substr(0, 64) + "\" is not KEY=VALUE (to remove a key use `bim env unset`)");
    std::string key = arg.substr(0, eq);
    if (Status s = ValidateEnvKey(key); !s.ok()) return s;
    set->push_back({{"key", key}, {"value", arg.substr(eq + 1)}});
  }
  return Status::OK();
}

int RunEnvList(const Output& out, const std::string& app, bool reveal) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  json body;
  if (!(s = ApiClient(server).Get("/v1/apps/" + app + "/env" + (reveal ? "?reveal=1" : ""), &body)).ok())
    return out.Fail(s, json{{"app", app}});
  body["ok"] = true;
  out.Json(body);
  std::string text;
  for (const auto& var : body["env"]) text += var.value("key", "") + "=" + var.value("value", "") + "\n";
  if (body["env"].empty()) text = "No env set for " + app + ". Add some with `bim env set " + app + " KEY=VALUE`.\n";
  else if (!reveal) text += "(values hidden; add --reveal to show them)\n";
  out.Text(text);
  return exit_code::kOk;
}

}  // namespace

void AddReleaseCommands(CLI::App& cli, CliContext& ctx) {
  static std::string app, to;
  static std::vector<std::string> args;
  static bool no_wait = false, reveal = false;

  auto* rollback = cli.add_subcommand("rollback", "Run an earlier release's image again, with the env it had (no rebuild)");
  rollback->add_option("app", app, "App name")->required();
  rollback->add_option("--to", to, "Release to return to, e.g. v3 (default: the one before the live one)");
  rollback->add_flag("--no-wait", no_wait, "Fail at once if another release of this app is running");
  ctx.AddJsonFlag(rollback);
  rollback->callback([&ctx] {
    json body{{"wait", !no_wait}};
    if (!to.empty()) {
      int64_t v = 0;
      if (Status s = ParseReleaseName(to, &v); !s.ok()) {
        ctx.exit_code = ctx.out().Fail(s);
        return;
      }
      body["to"] = ReleaseName(v);
    }
    ctx.exit_code = RunReleaseStream(ctx.out(), app, "/v1/apps/" + app + "/rollback", body, "rolled back");
  });

  static int replicas = 0;
  auto* scale = cli.add_subcommand("scale", "Run the live release with N instances, as a new release (on a cluster)");
  scale->add_option("app", app, "App name")->required();
  scale->add_option("replicas", replicas, "Instances to run, 1-100")->required();
  scale->add_flag("--no-wait", no_wait, "Fail at once if another release of this app is running");
  ctx.AddJsonFlag(scale);
  scale->callback([&ctx] {
    if (Status s = ValidateReplicas(replicas); !s.ok()) {
      ctx.exit_code = ctx.out().Fail(s);
      return;
    }
    ctx.exit_code = RunReleaseStream(ctx.out(), app, "/v1/apps/" + app + "/scale",
                                     json{{"replicas", replicas}, {"wait", !no_wait}}, "scaled");
  });

  auto* env = cli.add_subcommand("env", "Show or change an app's environment; a change is a new release");
  env->require_subcommand(1);
  auto* list = env->add_subcommand("list", "Show the env the app runs with (values hidden unless --reveal)");
  list->add_option("app", app, "App name")->required();
  list->add_flag("--reveal", reveal, "Show the values");
  ctx.AddJsonFlag(list);
  list->callback([&ctx] { ctx.exit_code = RunEnvList(ctx.out(), app, reveal); });

  auto* set = env->add_subcommand("set", "Set KEY=VALUE pairs and release the live image with them");
  set->add_option("app", app, "App name")->required();
  set->add_option("pairs", args, "KEY=VALUE ...")->required();
  set->add_flag("--no-wait", no_wait, "Fail at once if another release of this app is running");
  ctx.AddJsonFlag(set);
  set->callback([&ctx] {
    json pairs;
    if (Status s = ParseAssignments(args, &pairs); !s.ok()) {
      ctx.exit_code = ctx.out().Fail(s);
      return;
    }
    ctx.exit_code = RunReleaseStream(ctx.out(), app, "/v1/apps/" + app + "/env",
                                     json{{"set", pairs}, {"wait", !no_wait}}, "env changed");
  });

  auto* unset = env->add_subcommand("unset", "Remove KEYs and release the live image without them");
  unset->add_option("app", app, "App name")->required();
  unset->add_option("keys", args, "KEY ...")->required();
  unset->add_flag("--no-wait", no_wait, "Fail at once if another release of this app is running");
  ctx.AddJsonFlag(unset);
  unset->callback([&ctx] {
    for (const auto& key : args)
      if (Status s = ValidateEnvKey(key); !s.ok()) {
        ctx.exit_code = ctx.out().Fail(s);
        return;
      }
    ctx.exit_code = RunReleaseStream(ctx.out(), app, "/v1/apps/" + app + "/env",
                                     json{{"unset", args}, {"wait", !no_wait}}, "env changed");
  });
}

}  // namespace bim
