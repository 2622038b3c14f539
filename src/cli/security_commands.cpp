// Security commands: token create/list/revoke/rotate-admin and audit.
//
// `bim token create` prints the new token once (stdout, so it can be captured: `$(bim token create
// --app hello --json | jq -r .token)`); bimd keeps only its hash, so it cannot be shown again.
#include <cstdio>
#include <cstdlib>

#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

std::string Ago(int64_t ms) { return ms > 0 ? HumanAgo(ms) : "never"; }

int RunTokenCreate(const Output& out, const std::string& name, const std::string& app, bool read_secrets) {
  if (!name.empty()) {
    if (Status s = ValidateTokenName(name); !s.ok()) return out.Fail(s);
  }
  if (!app.empty()) {
    if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  }
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json request = json::object();
  if (!name.empty()) request["name"] = name;
  if (!app.empty()) request["app"] = app;
  if (read_secrets) request["read_secrets"] = true;
  json body;
  if (Status s = ApiClient(server).Post("/v1/tokens", request, &body); !s.ok()) return out.Fail(s);
  body["ok"] = true;
  out.Json(body);
  std::string scope = body.value("app", "").empty() ? "every app" : "app " + body.value("app", "");
  out.Progress("Created token " + std::to_string(body.value("id", 0)) + " \"" + body.value("name", "") +
               "\" for " + scope + (body.value("read_secrets", false) ? ", allowed to read env values" : "") +
               ". It is shown only now; store it somewhere safe.");
  out.Text(body.value("token", "") + "\n");
  return exit_code::kOk;
}

// A new admin token; the old one is refused from now on. When the CLI's saved login used the old one
// it is updated, so this shell keeps working.
int RunRotateAdmin(const Output& out) {
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Post("/v1/tokens/rotate-admin", json::object(), &body); !s.ok()) return out.Fail(s);
  std::string token = body.value("token", "");
  ServerConfig saved;
  bool from_file = std::getenv("BIM_TOKEN") == nullptr && LoadCredentials(&saved).ok() && saved.token == server.token;
  bool updated = false;
  if (from_file && server.token != token) {
    saved.token = token;
    updated = SaveCredentials(saved).ok();
  }
  out.Json(json{{"ok", true}, {"token", token}, {"file", body.value("file", "")}, {"login_updated", updated}});
  out.Progress("Rotated the admin token: the old one is refused from now on. The new one is in " +
               body.value("file", std::string("the server's admin.token")) +
               (updated ? " and in your saved login." : "; update BIM_TOKEN and every place that held the old one."));
  out.Text(token + "\n");
  return exit_code::kOk;
}

int RunTokenList(const Output& out) {
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Get("/v1/tokens", &body); !s.ok()) return out.Fail(s);
  out.Json(json{{"ok", true}, {"tokens", body["tokens"]}});
  if (body["tokens"].empty()) {
    out.Text("No tokens besides the admin token. Create one with `bim token create --name N [--app APP]`.\n");
    return exit_code::kOk;
  }
  std::string text = Column("ID", 5) + Column("NAME", 24) + Column("APP", 20) + Column("SECRETS", 7) + Column("CREATED", 9) +
                     Column("LAST USED", 9) + "STATE\n";
  for (const auto& t : body["tokens"]) {
    std::string app = t.value("app", "");
    text += Column(std::to_string(t.value("id", 0)), 5) + Column(t.value("name", ""), 24) + Column(app.empty() ? "*" : app, 20) +
            Column(t.value("read_secrets", false) ? "read" : "-", 7) +
            Column(Ago(t.value("created_at_ms", int64_t{0})), 9) + Column(Ago(t.value("last_used_at_ms", int64_t{0})), 9) +
            (t.value("revoked", false) ? "revoked " + Ago(t.value("revoked_at_ms", int64_t{0})) : "active") + "\n";
  }
  out.Text(text);
  return exit_code::kOk;
}

int RunTokenRevoke(const Output& out, const std::string& id) {
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
    return out.Fail(Status::InvalidArgument("token id must be a number (see `bim token list`)"));
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  json body;
  if (Status s = ApiClient(server).Delete("/v1/tokens/" + id, &body); !s.ok()) return out.Fail(s);
  body["ok"] = true;
  out.Json(body);
  out.Text("Revoked token " + id + " \"" + body.value("name", "") + "\"; it is refused from now on\n");
  return exit_code::kOk;
}

int RunAudit(const Output& out, const std::string& app, int limit) {
  if (!app.empty()) {
    if (Status s = ValidateAppName(app); !s.ok()) return out.Fail(s);
  }
  if (limit < 0) return out.Fail(Status::InvalidArgument("--limit must be a positive number"));
  ServerConfig server;
  if (Status s = LoadCredentials(&server); !s.ok()) return out.Fail(s);
  std::string path = "/v1/audit";
  std::string sep = "?";
  if (!app.empty()) {
    path += sep + "app=" + app;  // validated: [a-z0-9-] needs no escaping
    sep = "&";
  }
  if (limit > 0) path += sep + "limit=" + std::to_string(limit);
  json body;
  if (Status s = ApiClient(server).Get(path, &body); !s.ok()) return out.Fail(s);
  out.Json(json{{"ok", true}, {"app", body.value("app", "")}, {"entries", body["entries"]}});
  if (body["entries"].empty()) {
    out.Text("No audit entries yet.\n");
    return exit_code::kOk;
  }
  std::string text = Column("WHEN", 9) + Column("WHO", 20) + Column("ACTION", 13) + Column("APP", 20) + Column("RESULT", 6) + "DETAIL\n";
  for (const auto& e : body["entries"]) {
    std::string app_name = e.value("app", "");
    std::string result = e.value("result", "");
    bool ok = result == "ok";
    std::string detail = e.value("detail", "");
    if (!ok) detail = result + (detail.empty() ? "" : " (" + detail + ")");
    text += Column(HumanAgo(e.value("at_ms", int64_t{0})), 9) + Column(e.value("actor", ""), 20) +
            Column(e.value("action", ""), 13) + Column(app_name.empty() ? "-" : app_name, 20) + Column(ok ? "ok" : "FAIL", 6) +
            detail + "\n";
  }
  out.Text(text);
  return exit_code::kOk;
}

}  // namespace

void AddSecurityCommands(CLI::App& cli, CliContext& ctx) {
  // Options outlive parse(): callbacks run during parse and read them.
  static std::string name, app, id, audit_app;
  static int limit = 0;
  static bool read_secrets = false;

  auto* token = cli.add_subcommand("token", "Create, list and revoke API tokens (needs an unscoped token)");
  token->require_subcommand(1);
  ctx.AddJsonFlag(token);

  auto* create = token->add_subcommand("create", "Create a token; its value is printed once, on stdout");
  create->add_option("--name", name, "A name for the audit log ([A-Za-z0-9._-], 1-64; default token-<hash prefix>)");
  create->add_option("--app", app, "Limit the token to this one app (deploy, status, logs, ... of that app only)");
  create->add_flag("--read-secrets", read_secrets, "Allow it to read env values (`bim env list --reveal`); off by default");
  ctx.AddJsonFlag(create);
  create->callback([&ctx] { ctx.exit_code = RunTokenCreate(ctx.out(), name, app, read_secrets); });

  auto* rotate = token->add_subcommand("rotate-admin", "Replace the admin token; the old one stops working at once");
  ctx.AddJsonFlag(rotate);
  rotate->callback([&ctx] { ctx.exit_code = RunRotateAdmin(ctx.out()); });

  auto* list = token->add_subcommand("list", "List tokens (never their values)");
  ctx.AddJsonFlag(list);
  list->callback([&ctx] { ctx.exit_code = RunTokenList(ctx.out()); });

  auto* revoke = token->add_subcommand("revoke", "Revoke a token by id; it is refused from the next request on");
  revoke->add_option("id", id, "Token id (from `bim token list`)")->required();
  ctx.AddJsonFlag(revoke);
  revoke->callback([&ctx] { ctx.exit_code = RunTokenRevoke(ctx.out(), id); });

  auto* audit = cli.add_subcommand("audit", "Show who changed what and when, newest first");
  audit->add_option("--app", audit_app, "Only this app's entries");
  audit->add_option("--limit,-n", limit, "Show at most N entries (default 100)");
  ctx.AddJsonFlag(audit);
  audit->callback([&ctx] { ctx.exit_code = RunAudit(ctx.out(), audit_app, limit); });
}

}  // namespace bim
