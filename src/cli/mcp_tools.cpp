#include "cli/mcp_tools.h"

#include <string>

#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/credentials.h"
#include "cli/output.h"

namespace bim {

using nlohmann::json;

namespace {

// What env_list shows instead of any value.
constexpr const char* kMasked = "••••";

// ---- Schemas -------------------------------------------------------------------------------------

json AppArg() {
  return {{"type", "string"},
          {"description", "app name: 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"},
          {"pattern", "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"}};
}

json Input(json properties, json required) {
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)},
          {"additionalProperties", false}};
}

json Strings() { return {{"type", "array"}, {"items", {{"type", "string"}}}}; }

// Every result carries ok; a failed call carries error (and app when known) and nothing else is
// guaranteed, so only ok is required.
json ResultSchema(json properties) {
  properties["ok"] = {{"type", "boolean"}};
  properties["app"] = {{"type", "string"}};
  properties["error"] = {{"type", "object"},
                         {"properties", {{"code", {{"type", "string"}}}, {"message", {{"type", "string"}}}}},
                         {"required", json::array({"code", "message"})}};
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", json::array({"ok"})}};
}

// One release as bimd describes it (the fields agents most need; others may follow).
json ReleaseItem() {
  json s{{"type", "string"}};
  return {{"type", "object"},
          {"properties",
           {{"release", s},
            {"status", s},
            {"kind", s},
            {"git_commit", {{"type", "string"}, {"description", "the source's commit, \"\" outside git"}}},
            {"git_dirty", {{"type", "boolean"}, {"description", "deployed with uncommitted changes"}}},
            {"source", {{"type", "string"}, {"description", "\"1a2b3c4\" or \"1a2b3c4-dirty\""}}},
            {"source_digest", {{"type", "string"}, {"description", "sha256 of the content that was deployed"}}},
            {"failure_reason", s}}},
          {"required", json::array({"release", "status", "kind"})}};
}

// The result of anything that makes a release: deploy, rollback, env_set.
json ReleaseOutput() {
  return ResultSchema({{"url", {{"type", "string"}, {"description", "where the app is served"}}},
                 {"release", {{"type", "string"}, {"description", "the release made, e.g. v3"}}},
                 {"duration_ms", {{"type", "integer"}}},
                 {"unchanged", {{"type", "boolean"},
                                {"description", "deploy only: nothing to do, the live release already runs this "
                                                "build context, env and settings"}}},
                 {"upload", {{"type", "object"},
                             {"description", "deploy only: what was sent (sent_bytes, reused_bytes, files_sent, ...)"}}},
                 {"details", {{"type", "object"}, {"description", "the release record (image, commit, timings)"}}},
                 {"logs", Strings()},
                 {"build_output_tail", Strings()},
                 {"keys_set", Strings()},
                 {"keys_unset", Strings()}});
}

// ---- Results -------------------------------------------------------------------------------------

void Fail(const Status& s, const std::string& app, McpToolResult* out) {
  out->is_error = true;
  out->text = "error: " + s.message();
  out->structured = json{{"ok", false}, {"error", {{"code", s.CodeName()}, {"message", s.message()}}}};
  if (!app.empty()) out->structured["app"] = app;
}

void Succeed(json doc, McpToolResult* out) {
  doc["ok"] = true;
  out->text = doc.dump(2, ' ', false, json::error_handler_t::replace);
  out->structured = std::move(doc);
}

// Turns a release outcome (DeployFolder's document, or StreamRelease's) into the tool result: the
// final text a person would read plus the structured fields.
void ReleaseResult(const Status& s, json doc, const std::string& verb, const std::string& app, McpToolResult* out) {
  if (!doc.contains("app") && !app.empty()) doc["app"] = app;
  std::string name = doc.value("app", app);
  std::string release = doc.value("release", "");
  if (s.ok()) {
    doc["ok"] = true;
    out->text = name + " " + release + " is live at " + doc.value("url", "") + " (" +
                (doc.value("unchanged", false) ? "unchanged, nothing to deploy; checked" : verb) + " in " +
                HumanMillis(doc.value("duration_ms", int64_t{0})) + ")";
    const json details = doc.value("details", json::object());
    if (details.value("git_dirty", false))
      out->text += "; the source had uncommitted changes, recorded as " + details.value("source", "") + " with content " +
                   details.value("source_digest", "");
    out->structured = std::move(doc);
    return;
  }
  std::string text = verb + " of " + (name.empty() ? "the app" : name) + " failed: " + s.message();
  if (doc.contains("build_output_tail") && !doc["build_output_tail"].empty() &&
      (!doc.contains("logs") || doc["logs"].empty())) {
    text += "\nlast build output:";
    const json& lines = doc["build_output_tail"];
    for (size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i)
      text += "\n  " + lines[i].get<std::string>();
  }
  if (doc.contains("logs") && !doc["logs"].empty()) {
    text += "\nlast log lines of " + (release.empty() ? std::string("the release") : release) + ":";
    for (const auto& line : doc["logs"]) text += "\n  " + line.get<std::string>();
  }
  if (doc.contains("logs")) text += "\nthe previous release (if any) is still serving";
  doc["ok"] = false;
  doc["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
  out->is_error = true;
  out->text = text;
  out->structured = std::move(doc);
}

Status Connect(ApiClient* client) {
  ServerConfig server;
  Status s = LoadCredentials(&server);
  if (s.ok()) *client = ApiClient(server);
  return s;
}

// POSTs to an endpoint that answers with a release's NDJSON stream (rollback, env) and fills *doc like
// DeployFolder does: app, url, duration_ms, release, details; logs when the release ran and failed.
Status StreamRelease(const std::string& app, const std::string& path, const json& body, const McpProgress& progress,
                     json* doc) {
  long long t0 = MonotonicMillis();
  *doc = json{{"app", app}};
  ApiClient client(ServerConfig{});
  Status s = Connect(&client);
  if (!s.ok()) return s;
  json outcome;
  s = client.PostStream(path, body, [&](const json& e) {
    std::string kind = e.value("event", "");
    if (kind == "release") progress("==> Release " + e.value("release", "") + " of " + e.value("app", app));
    else if (kind == "step") progress(e.value("message", ""));
    else if (kind == "build") progress("| " + e.value("line", ""));
    else if (kind == "result") outcome = e;
  });
  if (!s.ok()) return s;
  if (!outcome.is_object()) return Status::Unavailable("bimd ended the stream without a result (see its log)");
  (*doc)["url"] = outcome.value("url", "");
  (*doc)["duration_ms"] = MonotonicMillis() - t0;
  if (outcome.contains("release") && outcome["release"].is_object()) {
    (*doc)["release"] = outcome["release"].value("release", "");
    (*doc)["details"] = outcome["release"];
  }
  if (!outcome.value("ok", false)) {
    json err = outcome.value("error", json::object());
    (*doc)["logs"] = outcome.value("logs", json::array());
    return Status(Status::CodeFromName(err.value("code", "failed")), err.value("message", "the release failed"));
  }
  return Status::OK();
}

// ---- Tools ---------------------------------------------------------------------------------------

void RunDeployTool(const json& args, const McpProgress& progress, McpToolResult* out) {
  DeployFlags flags;
  flags.dir = args["dir"].get<std::string>();
  flags.app = args.value("app", "");
  ProgressSink sink;
  sink.line = [&](const std::string& line) { progress(line); };
  json doc;
  Status s = DeployFolder(flags, sink, &doc);
  ReleaseResult(s, std::move(doc), "deploy", flags.app, out);
}

void RunGetTool(const std::string& app, const std::string& path, json* body, McpToolResult* out) {
  ApiClient client(ServerConfig{});
  Status s = Connect(&client);
  if (s.ok()) s = client.Get(path, body);
  if (!s.ok()) Fail(s, app, out);
}

void RunStatusTool(const json& args, const McpProgress&, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  json body;
  RunGetTool(app, "/v1/apps/" + app, &body, out);
  if (!out->is_error) Succeed(std::move(body), out);
}

void RunReleasesTool(const json& args, const McpProgress&, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  int limit = args.value("limit", 20);
  json body;
  RunGetTool(app, "/v1/apps/" + app + "/releases?limit=" + std::to_string(limit), &body, out);
  if (!out->is_error) Succeed(json{{"app", app}, {"releases", body.value("releases", json::array())}}, out);
}

void RunLogsTool(const json& args, const McpProgress&, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  int tail = args.value("tail", 100);
  std::string service = args.value("service", "");
  ApiClient client(ServerConfig{});
  Status s = Connect(&client);
  json lines = json::array();
  json result;
  std::string path = "/v1/apps/" + app + "/logs?tail=" + std::to_string(tail) + (service.empty() ? "" : "&service=" + service);
  if (s.ok()) {
    s = client.Stream(path, [&](const json& e) {
      if (e.contains("line") && e["line"].is_string()) lines.push_back(e["line"]);
      else if (e.value("event", "") == "result") result = e;
    });
  }
  if (s.ok() && result.is_object() && !result.value("ok", true)) {
    json err = result.value("error", json::object());
    s = Status(Status::CodeFromName(err.value("code", "internal")), err.value("message", "reading the logs failed"));
  }
  if (!s.ok()) return Fail(s, app, out);
  Succeed(json{{"app", app}, {"lines", lines}}, out);
  std::string text;
  for (const auto& line : lines) text += line.get<std::string>() + "\n";
  out->text = lines.empty() ? "(no log lines)" : text;
}

void RunVolumesTool(const json& args, const McpProgress&, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  json body;
  RunGetTool(app, "/v1/apps/" + app + "/volumes", &body, out);
  if (out->is_error) return;
  json volumes = body.value("volumes", json::array());
  Succeed(json{{"app", app}, {"volumes", volumes}}, out);
  std::string text;
  for (const auto& v : volumes)
    text += v.value("name", "") + " (" + std::to_string(v.value("size_bytes", int64_t{-1})) + " bytes)\n";
  out->text = volumes.empty() ? app + " has no volumes" : text;
}

void RunRollbackTool(const json& args, const McpProgress& progress, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  json body = json::object();
  if (args.contains("to")) body["to"] = args["to"];
  json doc;
  Status s = StreamRelease(app, "/v1/apps/" + app + "/rollback", body, progress, &doc);
  ReleaseResult(s, std::move(doc), "rollback", app, out);
}

void RunEnvListTool(const json& args, const McpProgress&, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  json body;
  RunGetTool(app, "/v1/apps/" + app + "/env", &body, out);
  if (out->is_error) return;
  // Masked here whatever bimd sent: an agent's transcript is no place for a secret.
  json env = json::array();
  std::string keys;
  for (const auto& var : body.value("env", json::array())) {
    if (!var.is_object() || !var.contains("key") || !var["key"].is_string()) continue;
    env.push_back(json{{"key", var["key"]}, {"value", kMasked}});
    keys += (keys.empty() ? "" : ", ") + var["key"].get<std::string>();
  }
  Succeed(json{{"app", app}, {"env", env}}, out);
  out->text = env.empty() ? app + " has no environment variables"
                          : app + " has " + std::to_string(env.size()) + " variable(s): " + keys +
                                " (values are never shown)";
}

void RunEnvSetTool(const json& args, const McpProgress& progress, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  json body{{"set", json::array()}, {"unset", json::array()}};
  json keys_set = json::array();
  for (const auto& [key, value] : args["vars"].items()) {
    body["set"].push_back(json{{"key", key}, {"value", value}});
    keys_set.push_back(key);
  }
  json keys_unset = args.value("unset", json::array());
  body["unset"] = keys_unset;
  if (keys_set.empty() && keys_unset.empty())
    return Fail(Status::InvalidArgument("nothing to change: give vars {KEY: VALUE} or unset [KEY]"), app, out);
  json doc;
  Status s = StreamRelease(app, "/v1/apps/" + app + "/env", body, progress, &doc);
  doc["keys_set"] = keys_set;
  doc["keys_unset"] = keys_unset;
  ReleaseResult(s, std::move(doc), "env change", app, out);
}

void RunAppsTool(const json&, const McpProgress&, McpToolResult* out) {
  json body;
  RunGetTool("", "/v1/apps", &body, out);
  if (!out->is_error) Succeed(json{{"apps", body.value("apps", json::array())}}, out);
}

void RunScaleTool(const json& args, const McpProgress& progress, McpToolResult* out) {
  std::string app = args["app"].get<std::string>();
  json doc;
  Status s = StreamRelease(app, "/v1/apps/" + app + "/scale", json{{"replicas", args["replicas"]}}, progress, &doc);
  ReleaseResult(s, std::move(doc), "scale", app, out);
}

void RunNodesTool(const json&, const McpProgress&, McpToolResult* out) {
  json body;
  RunGetTool("", "/v1/nodes", &body, out);
  if (!out->is_error)
    Succeed(json{{"engine", body.value("engine", "")}, {"registry", body.value("registry", "")},
                 {"nodes", body.value("nodes", json::array())}},
            out);
}

json Hints(bool read_only, bool destructive, bool idempotent) {
  return {{"readOnlyHint", read_only}, {"destructiveHint", destructive}, {"idempotentHint", idempotent},
          {"openWorldHint", false}};
}

}  // namespace

std::vector<McpTool> BimMcpTools() {
  const json env_key = {{"type", "string"},
                        {"description", "env keys are letters, digits and _, not starting with a digit"},
                        {"pattern", "^[A-Za-z_][A-Za-z0-9_]{0,255}$"}};
  std::vector<McpTool> tools;
  tools.push_back({"deploy", "Deploy an app folder",
                   "Builds the app folder (a Dockerfile, optional .env and bim.toml) on the bimd server, "
                   "health-checks the new release and switches traffic to it; the same as `bim deploy DIR`. "
                   "Returns the URL and release, or why it failed with the container's last log lines (the "
                   "previous release keeps serving). The .env values are sent to the server, never returned.",
                   Input({{"dir", {{"type", "string"}, {"minLength", 1},
                                   {"description", "the app folder (absolute, or relative to where `bim mcp` runs)"}}},
                          {"app", AppArg()}},
                         json::array({"dir"})),
                   ReleaseOutput(), Hints(false, false, false), RunDeployTool});
  tools.push_back({"status", "App status",
                   "The app's URL, live release, container state and restarts, every service (of a Compose "
                   "app) with its state, health and restarts, its latest release with the failure reason "
                   "if it failed, and the watch after the switch while one runs "
                   "(watch.summary: \"watching v7: 42 s left, 0 failures\"; a release that fails it is "
                   "rolled back automatically).",
                   Input({{"app", AppArg()}}, json::array({"app"})),
                   ResultSchema({{"url", {{"type", "string"}}},
                           {"state", {{"type", "string"}}},
                           {"live", {{"type", json::array({"object", "null"})}}},
                           {"watch", {{"type", json::array({"object", "null"})}}},
                           {"latest", {{"type", "object"}}},
                           {"container", {{"type", "object"}}},
                           {"services", {{"type", "array"}, {"items", {{"type", "object"}}}}}}),
                   Hints(true, false, true), RunStatusTool});
  tools.push_back({"releases", "List releases",
                   "The app's releases, newest first: status (live, failed, retired...), kind (deploy, "
                   "rollback, env), source (the git commit, \"1a2b3c4-dirty\" when deployed with uncommitted "
                   "changes, and a digest of the content shipped), timings and failure reasons.",
                   Input({{"app", AppArg()},
                          {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000},
                                     {"description", "at most this many releases (default 20)"}}}},
                         json::array({"app"})),
                   ResultSchema({{"releases", {{"type", "array"}, {"items", ReleaseItem()}}}}),
                   Hints(true, false, true), RunReleasesTool});
  tools.push_back({"logs", "Read app logs",
                   "The last lines the app's live containers wrote (stdout and stderr); for a Compose app "
                   "every service's, each line prefixed \"<service> | \", or one service's.",
                   Input({{"app", AppArg()},
                          {"tail", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000},
                                    {"description", "number of lines from the end (default 100)"}}},
                          {"service", {{"type", "string"}, {"pattern", "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
                                       {"description", "only this service of a Compose app"}}}},
                         json::array({"app"})),
                   ResultSchema({{"lines", Strings()}}), Hints(true, false, true), RunLogsTool});
  tools.push_back({"volumes", "List volumes",
                   "The app's named volumes (the data of its stateful services), with sizes and the services "
                   "that mount them.",
                   Input({{"app", AppArg()}}, json::array({"app"})),
                   ResultSchema({{"volumes", {{"type", "array"}, {"items", {{"type", "object"}}}}}}),
                   Hints(true, false, true), RunVolumesTool});
  tools.push_back({"rollback", "Roll back",
                   "Puts a previous release back live (health-checked like a deploy): the one before the "
                   "live release, or `to` (e.g. \"v2\").",
                   Input({{"app", AppArg()},
                          {"to", {{"type", "string"}, {"pattern", "^v?[0-9]+$"},
                                  {"description", "the release to go back to, e.g. v2"}}}},
                         json::array({"app"})),
                   ReleaseOutput(), Hints(false, false, false), RunRollbackTool});
  tools.push_back({"env_list", "List env variables",
                   "The names of the app's environment variables. Values are always masked.",
                   Input({{"app", AppArg()}}, json::array({"app"})),
                   ResultSchema({{"env", {{"type", "array"},
                                    {"items", {{"type", "object"},
                                               {"properties", {{"key", {{"type", "string"}}},
                                                               {"value", {{"type", "string"}, {"const", kMasked}}}}},
                                               {"required", json::array({"key", "value"})}}}}}}),
                   Hints(true, false, true), RunEnvListTool});
  tools.push_back({"env_set", "Set env variables",
                   "Sets (and optionally unsets) environment variables and makes a new release with them, "
                   "health-checked like a deploy. The result names the keys, never the values.",
                   Input({{"app", AppArg()},
                          {"vars", {{"type", "object"},
                                    {"propertyNames", env_key},
                                    {"additionalProperties", {{"type", "string"}}},
                                    {"description", "variables to set, {\"KEY\": \"value\"}"}}},
                          {"unset", {{"type", "array"}, {"items", env_key}, {"description", "keys to remove"}}}},
                         json::array({"app", "vars"})),
                   ReleaseOutput(), Hints(false, false, false), RunEnvSetTool});
  tools.push_back({"apps", "List apps", "Every app on the server with its live release, status and URL.",
                   Input(json::object(), json::array()),
                   ResultSchema({{"apps", {{"type", "array"}, {"items", {{"type", "object"}}}}}}),
                   Hints(true, false, true), RunAppsTool});
  tools.push_back({"scale", "Scale an app",
                   "Runs the live release's image with `replicas` instances as a new release (on a Docker "
                   "Swarm cluster), health-checked like a deploy; later deploys keep the count unless bim.toml "
                   "names one. The same as `bim scale APP N`.",
                   Input({{"app", AppArg()},
                          {"replicas", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100},
                                        {"description", "how many instances to run"}}}},
                         json::array({"app", "replicas"})),
                   ReleaseOutput(), Hints(false, false, true), RunScaleTool});
  tools.push_back({"nodes", "List hosts",
                   "The hosts apps run on (Swarm nodes, or bimd's one host): address, role, state, "
                   "availability, bim's tasks on each, and a warning for a host that is down or cannot pull "
                   "bimd's images. The same as `bim nodes`.",
                   Input(json::object(), json::array()),
                   ResultSchema({{"engine", {{"type", "string"}}},
                                 {"registry", {{"type", "string"}}},
                                 {"nodes", {{"type", "array"}, {"items", {{"type", "object"}}}}}}),
                   Hints(true, false, true), RunNodesTool});
  return tools;
}

}  // namespace bim
