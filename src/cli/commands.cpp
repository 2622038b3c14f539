// The read-mostly commands: login, apps, status, releases, logs, destroy, cancel.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/app_table.h"
#include "cli/command_registry.h"
#include "cli/commands.h"
#include "cli/credentials.h"
#include "core/deploy_plan.h"
#include "core/terminal_text.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

int RunLogin(const Output& out, const std::string& url_in, const std::string& token_in) {
  ServerConfig server;
  Status s = NormalizeServerUrl(url_in, &server.url);
  if (!s.ok()) return out.Fail(s);
  server.token = token_in;
  if (token_in == "-") std::getline(std::cin, server.token);
  while (!server.token.empty() && (server.token.back() == '\n' || server.token.back() == '\r' || server.token.back() == ' '))
    server.token.pop_back();
  if (server.token.empty()) return out.Fail(Status::InvalidArgument("--token is empty (bimd wrote it to <data-dir>/admin.token)"));
  json apps;
  if (!(s = ApiClient(server).Get("/v1/apps", &apps)).ok()) return out.Fail(s);
  if (!(s = SaveCredentials(server)).ok()) return out.Fail(s);
  out.Json(json{{"ok", true}, {"server", server.url}, {"config", CredentialsPath()}});
  out.Text("Logged in to " + server.url + " (saved to " + CredentialsPath() + ")\n");
  return exit_code::kOk;
}

int RunServer(const Output& out) {
  ServerConfig server;
  Status s = LoadCredentials(&server);
  if (!s.ok()) return out.Fail(s);
  json body;
  if (!(s = ApiClient(server).Get("/v1/server", &body)).ok()) return out.Fail(s);
  body["ok"] = true;
  body["server"] = server.url;
  out.Json(body);
  std::string text = "Server:   " + server.url + "\nInstance: " + body.value("instance", "") + "\nApps at:  " +
                     body.value("app_url_pattern", "") + "\n";
  // bimd --api-domain: which certificate the API serves, and why not the CA's yet.
  if (const json& api = body.value("api_certificate", json()); api.is_object()) {
    std::string line = "API cert: " + api.value("domain", "") + ": serving " + api.value("serving", "") +
                       " (state " + api.value("state", "") + ")";
    if (!api.value("error", "").empty()) line += ", last attempt failed: " + api.value("error", "");
    text += line + "\n";
  }
  out.Text(text);
  return exit_code::kOk;
}

int RunApps(const Output& out) {
  ServerConfig server;
  Status s = LoadCredentials(&server);
  if (!s.ok()) return out.Fail(s);
  if (out.json()) {
    // bimd's answer passed on as it came, plus "ok": at 10,000 apps parsing and re-printing the list
    // would be most of the command's time.
    std::string text;
    if (!(s = ApiClient(server).GetText("/v1/apps", &text)).ok()) return out.Fail(s);
    size_t brace = text.find('{');
    if (brace == std::string::npos) return out.Fail(Status::Internal("bimd sent an app list that is not an object"));
    size_t next = text.find_first_not_of(" \t\r\n", brace + 1);
    bool empty = next != std::string::npos && text[next] == '}';
    std::fputs(empty ? "{\"ok\":true" : "{\"ok\":true,", stdout);
    std::fwrite(text.data() + brace + 1, 1, text.size() - brace - 1, stdout);
    return exit_code::kOk;
  }
  std::string text;
  std::vector<AppRow> rows;
  if (!(s = ApiClient(server).GetText("/v1/apps", &text, /*validate=*/false)).ok() ||
      !(s = ParseAppRows(text, &rows)).ok())
    return out.Fail(s);
  if (rows.empty()) {
    out.Text("No apps yet. Deploy one with `bim deploy` in its folder.\n");
    return exit_code::kOk;
  }
  out.Text(RenderAppTable(rows, NowMillis()));
  return exit_code::kOk;
}

int RunStatus(const Output& out, const std::string& app) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  json body;
  if (!(s = ApiClient(server).Get("/v1/apps/" + app, &body)).ok()) return out.Fail(s, json{{"app", app}});
  body["ok"] = true;
  out.Json(body);
  std::string text = "App:      " + app + "\nURL:      " + body.value("url", "") + "\nState:    " +
                     body.value("state", "") + "\n";
  if (body["live"].is_object()) {
    const json& live = body["live"];
    text += "Live:     " + live.value("release", "") + " (image " + live.value("image", "") + ", deployed " +
            HumanAgo(live.value("finished_at_ms", int64_t{0})) + ")\n";
    if (!live.value("git_commit", "").empty())
      text += "Commit:   " + live.value("git_commit", "") +
              (live.value("git_dirty", false) ? " with uncommitted changes (" + live.value("source", "") + ")" : "") +
              "\n";
    if (!live.value("source_digest", "").empty()) text += "Content:  " + live.value("source_digest", "") + "\n";
  }
  // The watch after the switch: in progress ("watching v7: 42 s left, 0 failures"), else how the live
  // release's watch ended.
  const json* watch = body["watch"].is_object() ? &body["watch"]
                      : body["live"].is_object() && body["live"].contains("watch") ? &body["live"]["watch"]
                                                                                  : nullptr;
  if (watch) {
    text += "Watch:    " + watch->value("summary", "");
    if (watch->value("state", "") == "watching" && (*watch)["standby"].is_string())
      text += " (" + (*watch)["standby"].get<std::string>() + " stays ready to take over)";
    text += "\n";
  }
  const json instances = body.value("instances", json::array());
  if (body.value("services", json::array()).size() > 1) {
    // A Compose app: one line per service.
    text += "Services:\n  " + Column("SERVICE", 12) + Column("STATE", 11) + Column("HEALTH", 10) + Column("RESTARTS", 9) +
            Column("ROUTE", 24) + "CONTAINER\n";
    for (const auto& svc : body["services"]) {
      std::string route = svc.contains("http") ? svc["http"].value("route", "") + ":" +
                                                     std::to_string(svc["http"].value("port", 0))
                                               : "-";
      std::string health = svc.value("health", "");
      text += "  " + Column(svc.value("service", ""), 12) + Column(svc.value("state", ""), 11) +
              Column(health.empty() ? "-" : health, 10) + Column(std::to_string(svc.value("restarts", 0)), 9) +
              Column(route, 24) + svc.value("workload", "") + "\n";
      if (svc.contains("problem")) text += "    ! " + svc.value("problem", "") + "\n";
    }
  } else if (instances.size() > 1 || (instances.size() == 1 && !instances[0].value("node", "").empty())) {
    // Several hosts: one line per instance, where it runs and how it is doing.
    text += "Instances:\n  " + Column("NODE", 20) + Column("ENDPOINT", 22) + Column("STATE", 22) + "RESTARTS\n";
    for (const json& i : instances) {
      std::string state = i.value("state", "");
      if (!i.value("error", "").empty() && !i.value("running", false)) state += ": " + i.value("error", "");
      text += "  " + Column(i.value("node", ""), 20) + Column(i.value("endpoint", ""), 22) + Column(state, 22) +
              std::to_string(i.value("restarts", 0)) + "\n";
    }
  } else if (body.contains("container")) {
    const json& c = body["container"];
    text += "Container: " + c.value("name", "") + " " + c.value("state", "") + ", restarts " +
            std::to_string(c.value("restarts", 0)) + ", last exit code " + std::to_string(c.value("exit_code", 0)) +
            "\n";
  }
  if (body.contains("latest") && (!body["live"].is_object() || body["latest"]["version"] != body["live"]["version"])) {
    const json& l = body["latest"];
    text += "Latest:   " + l.value("release", "") + " " + l.value("status", "");
    if (!l.value("failure_reason", "").empty()) text += ": " + l.value("failure_reason", "");
    text += "\n";
  }
  text += "Health:   GET " + body["health"].value("path", "/") + "\nPort:     " + std::to_string(body.value("port", 0)) + "\n";
  if (body.contains("domains") && body["domains"].is_array() && !body["domains"].empty()) {
    std::string names;
    for (const auto& d : body["domains"]) names += (names.empty() ? "" : ", ") + d.get<std::string>();
    text += "Domains:  " + names + "\n";
  }
  if (body.contains("certificate") && body["certificate"].is_object()) {
    const json& c = body["certificate"];
    text += "Cert:     " + c.value("state", "") + " (" + c.value("source", "") + ")";
    if (!c.value("error", "").empty()) text += ", last attempt failed: " + c.value("error", "");
    text += "\n";
  }
  out.Text(text);
  return exit_code::kOk;
}

int RunReleases(const Output& out, const std::string& app, int limit) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  json body;
  std::string path = "/v1/apps/" + app + "/releases" + (limit > 0 ? "?limit=" + std::to_string(limit) : "");
  if (!(s = ApiClient(server).Get(path, &body)).ok()) return out.Fail(s, json{{"app", app}});
  out.Json(json{{"ok", true}, {"app", app}, {"releases", body["releases"]}});
  std::string text = Column("RELEASE", 8) + Column("STATUS", 9) + Column("KIND", 8) + Column("CREATED", 9) + Column("TOOK", 7) +
                     Column("SOURCE", 13) + "REASON\n";
  for (const auto& r : body["releases"]) {
    std::string source = r.value("source", "");  // "1a2b3c4" or "1a2b3c4-dirty"
    text += Column(r.value("release", ""), 8) + Column(r.value("status", ""), 9) + Column(r.value("kind", ""), 8) +
            Column(HumanAgo(r.value("created_at_ms", int64_t{0})), 9) +
            Column(r.value("total_ms", 0) ? HumanMillis(r.value("total_ms", int64_t{0})) : "-", 7) +
            Column(source.empty() ? "-" : source, 13) + r.value("failure_reason", "") + "\n";
  }
  out.Text(text);
  return exit_code::kOk;
}

int RunLogs(const Output& out, const std::string& app, const std::string& service, int tail, bool follow) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  if (!service.empty())
    if (s = ValidateServiceName(service); !s.ok()) return out.Fail(s);
  json lines = json::array();
  json result;
  std::string path = "/v1/apps/" + app + "/logs?tail=" + std::to_string(tail) + (follow ? "&follow=1" : "") +
                     (service.empty() ? "" : "&service=" + service);
  s = ApiClient(server).Stream(path, [&](const json& e) {
    if (e.contains("line")) {
      std::string line = e["line"].get<std::string>();
      if (out.json() && follow) {
        std::cout << json{{"line", line}}.dump() << std::endl;  // -f --json: one object per line
      } else if (out.json()) {
        lines.push_back(line);
      } else {
        std::cout << EscapeTerminalText(line) << "\n" << std::flush;
      }
    } else if (e.value("event", "") == "result") {
      result = e;
    }
  });
  if (!s.ok()) return out.Fail(s, json{{"app", app}});
  if (result.is_object() && !result.value("ok", true)) {
    const json& err = result["error"];
    return out.Fail(Status(Status::CodeFromName(err.value("code", "internal")), err.value("message", "")),
                    json{{"app", app}});
  }
  if (!follow) out.Json(json{{"ok", true}, {"app", app}, {"lines", lines}});
  return exit_code::kOk;
}

int RunDestroy(const Output& out, const std::string& app, bool yes, bool volumes) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  if (!yes && isatty(0) && !out.json()) {
    std::fprintf(stderr, "Destroy %s: its containers, images, route and release history%s? Type the app name: ", app.c_str(),
                 volumes ? ", and the data in its volumes" : "");
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != app) return out.Fail(Status::Cancelled("not destroyed (the name did not match)"));
  }
  json body;
  if (!(s = ApiClient(server).Delete("/v1/apps/" + app + (volumes ? "?volumes=1" : ""), &body)).ok())
    return out.Fail(s, json{{"app", app}});
  body["ok"] = true;
  out.Json(body);
  std::string text = "Destroyed " + app + ": removed " + std::to_string(body["containers"].size()) + " container(s), " +
                     std::to_string(body["images"].size()) + " image(s)" +
                     (body.value("volumes", json::array()).empty() ? "" : ", " + std::to_string(body["volumes"].size()) + " volume(s)") +
                     " and its route\n";
  if (!body.value("kept_volumes", json::array()).empty()) {
    std::string names;
    for (const auto& v : body["kept_volumes"]) names += (names.empty() ? "" : ", ") + v.get<std::string>();
    text += "Kept its volumes (" + names + "): a new deploy of " + app + " finds their data again; `bim destroy " + app +
            " --volumes` deletes them\n";
  }
  for (const auto& v : body.value("volumes_elsewhere", json::array())) text += "Not removed: " + v.get<std::string>() + "\n";
  out.Text(text);
  return exit_code::kOk;
}

// Stops the app's release in progress (an unscoped token only); its `bim deploy` fails with the reason.
int RunCancel(const Output& out, const std::string& app) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  json body;
  if (!(s = ApiClient(server).Post("/v1/apps/" + app + "/cancel", json::object(), &body)).ok())
    return out.Fail(s, json{{"app", app}});
  body["ok"] = true;
  out.Json(body);
  out.Text("Cancelled " + body.value("cancelled", std::string("the release")) + " of " + app +
           "; the live release (if any) keeps serving\n");
  return exit_code::kOk;
}

void AddCoreCommands(CLI::App& cli, CliContext& ctx) {
  // Options outlive parse(): callbacks run during parse and read them.
  static std::string url, token, app, service;
  static DeployFlags deploy_flags;
  static bool no_wait = false, follow = false, yes = false, volumes = false;
  static int limit = 0, tail = 100;

  auto* login = cli.add_subcommand("login", "Save the server URL and token for later commands");
  login->add_option("url", url, "bimd's API address, e.g. http://127.0.0.1:7878")->required();
  login->add_option("--token", token, "API token (bimd writes the admin token to <data-dir>/admin.token); - reads stdin")
      ->required();
  ctx.AddJsonFlag(login);
  login->callback([&ctx] { ctx.exit_code = RunLogin(ctx.out(), url, token); });

  auto* deploy = cli.add_subcommand("deploy", "Build the folder's app on the server, health-check it and switch traffic to it");
  deploy->add_option("dir", deploy_flags.dir, "App folder with a Dockerfile (default: .)");
  deploy->add_option("--app", deploy_flags.app, "App name (default: bim.toml's app, else the folder name)");
  deploy->add_flag("--no-wait", no_wait, "Fail at once if another deploy of this app is running");
  deploy->add_option("--build", deploy_flags.build,
                     "Where the image is built: server (default; only changed files are sent) or local (this "
                     "machine's Docker; only layers the server lacks are sent)")
      ->check(CLI::IsMember({"server", "local"}));
  deploy->add_flag("--wait-watch", deploy_flags.wait_watch,
                   "Stay until the watch after the switch is over; exit 1 if bimd rolled the release back");
  ctx.AddJsonFlag(deploy);
  deploy->callback([&ctx] {
    deploy_flags.wait = !no_wait;
    ctx.exit_code = RunDeploy(ctx.out(), deploy_flags);
  });

  auto* apps = cli.add_subcommand("apps", "List apps with their live release");
  ctx.AddJsonFlag(apps);
  apps->callback([&ctx] { ctx.exit_code = RunApps(ctx.out()); });

  auto* server = cli.add_subcommand("server", "Show which bimd this CLI talks to and where it serves apps");
  ctx.AddJsonFlag(server);
  server->callback([&ctx] { ctx.exit_code = RunServer(ctx.out()); });

  auto* status = cli.add_subcommand("status", "Show an app's live release and each service's state, health and restarts");
  status->add_option("app", app, "App name")->required();
  ctx.AddJsonFlag(status);
  status->callback([&ctx] { ctx.exit_code = RunStatus(ctx.out(), app); });

  auto* releases = cli.add_subcommand("releases", "List an app's releases, newest first, with failure reasons");
  releases->add_option("app", app, "App name")->required();
  releases->add_option("--limit", limit, "Show at most N releases");
  ctx.AddJsonFlag(releases);
  releases->callback([&ctx] { ctx.exit_code = RunReleases(ctx.out(), app, limit); });

  auto* logs = cli.add_subcommand("logs", "Print the live release's logs (every service, or --service NAME)");
  logs->add_option("app", app, "App name")->required();
  logs->add_option("--tail,-n", tail, "Number of lines from the end")->capture_default_str();
  logs->add_flag("-f,--follow", follow, "Keep printing new lines");
  logs->add_option("--service,-s", service, "Only this service of a Compose app (default: all, each line prefixed)");
  ctx.AddJsonFlag(logs);
  logs->callback([&ctx] { ctx.exit_code = RunLogs(ctx.out(), app, service, tail, follow); });

  auto* destroy = cli.add_subcommand("destroy", "Remove an app: route, containers, images and history (volumes are kept)");
  destroy->add_option("app", app, "App name")->required();
  destroy->add_flag("--yes,-y", yes, "Do not ask for confirmation");
  destroy->add_flag("--volumes", volumes, "Also delete the app's named volumes (kept otherwise)");
  ctx.AddJsonFlag(destroy);
  destroy->callback([&ctx] { ctx.exit_code = RunDestroy(ctx.out(), app, yes, volumes); });

  auto* cancel = cli.add_subcommand("cancel", "Stop an app's release in progress (and those queued behind it)");
  cancel->add_option("app", app, "App name")->required();
  ctx.AddJsonFlag(cancel);
  cancel->callback([&ctx] { ctx.exit_code = RunCancel(ctx.out(), app); });
}

}  // namespace bim
