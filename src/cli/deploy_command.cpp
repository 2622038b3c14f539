// `bim deploy`: pack the folder, upload it with the app's settings and .env, show bimd's progress.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/context_pack.h"
#include "cli/credentials.h"
#include "core/app_config.h"
#include "core/dotenv.h"
#include "core/terminal_text.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

// Loads bim.toml (optional) and works out the app name: --app, else bim.toml's app, else the folder name.
Status LoadAppConfig(const std::string& dir, const std::string& app_flag, AppConfig* config) {
  std::string text;
  Status s = ReadFile(dir + "/bim.toml", &text);
  if (s.ok()) {
    if (!(s = ParseAppConfig(text, config)).ok()) return s;
  } else if (!s.IsNotFound()) {
    return s;
  }
  if (!app_flag.empty()) {
    config->app = app_flag;
  } else if (config->app.empty()) {
    namespace fs = std::filesystem;
    std::string folder = fs::absolute(dir).lexically_normal().filename().string();
    if (folder.empty()) folder = fs::absolute(dir).lexically_normal().parent_path().filename().string();
    if (!ValidateAppName(folder).ok())
      return Status::InvalidArgument("folder name \"" + folder + "\" is not a valid app name; set app = \"my-app\" "
                                     "in bim.toml or pass --app NAME ([a-z0-9-], 1-63 chars)");
    config->app = folder;
  }
  return ValidateAppName(config->app);
}

}  // namespace

Status DeployFolder(const DeployFlags& flags, const ProgressSink& progress, json* result) {
  long long t0 = MonotonicMillis();
  *result = json::object();
  auto say = [&](const std::string& line) {
    if (progress.line) progress.line(line);
  };
  if (!std::filesystem::is_directory(flags.dir)) return Status::InvalidArgument("no such folder: " + flags.dir);
  AppConfig config;
  Status s = LoadAppConfig(flags.dir, flags.app, &config);
  if (!s.ok()) return s;
  EnvList env;
  std::string env_text;
  if ((s = ReadFile(flags.dir + "/.env", &env_text)).ok()) {
    if (!(s = ParseDotenv(env_text, &env)).ok()) return s;
  } else if (!s.IsNotFound()) {
    return s;
  }
  ServerConfig server;
  if (!(s = LoadCredentials(&server)).ok()) return s;

  char tmpl[] = "/tmp/bim-context-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return Status::Internal("cannot create a temporary file in /tmp");
  close(fd);
  std::string tar_path = tmpl;
  struct Cleanup {
    std::string path;
    ~Cleanup() { unlink(path.c_str()); }
  } cleanup{tar_path};

  PackStats stats;
  if (!(s = PackContext(flags.dir, tar_path, &stats)).ok()) return s;
  for (const auto& w : stats.warnings) say("warning: " + w);
  say("==> Packed " + std::to_string(stats.files) + " files (" + HumanBytes(stats.bytes) + ", " +
      HumanBytes(stats.packed_bytes) + " compressed) from " + flags.dir);

  json meta{{"app", config.app},
            {"port", config.port},
            {"health", {{"path", config.health.path}, {"timeout_ms", config.health.timeout.count()}}},
            {"env", json::array()},
            {"git_commit", ReadGitCommit(flags.dir)},
            {"wait", flags.wait}};
  for (const auto& var : env) meta["env"].push_back({{"key", var.key}, {"value", var.value}});
  if (!config.build_args.empty()) meta["build_args"] = config.build_args;  // [build.args] in bim.toml
  if (config.build_timeout.count() > 0) meta["build_timeout_ms"] = config.build_timeout.count();
  json resources = json::object();  // [resources] in bim.toml; what is absent takes the server's default
  if (config.resources.memory_bytes > 0) resources["memory_bytes"] = config.resources.memory_bytes;
  if (config.resources.nano_cpus > 0) resources["nano_cpus"] = config.resources.nano_cpus;
  if (config.resources.pids > 0) resources["pids"] = config.resources.pids;
  if (!resources.empty()) meta["resources"] = resources;

  json outcome;
  std::vector<std::string> build_lines;
  auto on_upload = [&](int64_t sent, int64_t total) {
    if (progress.upload) progress.upload(sent, total, server.url);
  };
  auto on_event = [&](const json& e) {
    std::string kind = e.value("event", "");
    if (kind == "release") {
      say("==> Release " + e.value("release", "") + " of " + e.value("app", ""));
    } else if (kind == "step") {
      say("    " + e.value("message", ""));
    } else if (kind == "build") {
      std::string line = e.value("line", "");
      build_lines.push_back(line);
      if (build_lines.size() > 50) build_lines.erase(build_lines.begin());
      say("    | " + EscapeTerminalText(line));
    } else if (kind == "result") {
      outcome = e;
    }
  };
  ApiClient client(server);
  s = client.Deploy(config.app, meta, tar_path, on_event, on_upload);
  if (!s.ok()) {
    *result = json{{"app", config.app}};
    return s;
  }
  if (outcome.is_null()) return Status::Unavailable("bimd ended the deploy without a result (see its log)");

  json& doc = *result;
  doc = json{{"app", config.app}, {"url", outcome.value("url", "")}, {"duration_ms", MonotonicMillis() - t0}};
  if (outcome.contains("release")) {
    doc["release"] = outcome["release"].value("release", "");
    doc["details"] = outcome["release"];
  }
  if (!outcome.value("ok", false)) {
    const json& err = outcome["error"];
    doc["logs"] = outcome.value("logs", json::array());
    doc["build_output_tail"] = build_lines;
    return Status(Status::CodeFromName(err.value("code", "failed")), err.value("message", "deploy failed"));
  }
  return Status::OK();
}

int RunDeploy(const Output& out, const DeployFlags& flags) {
  InterruptTransfersOnCtrlC();
  bool tty = Output::StderrIsTty() && !out.json();
  int last_percent = -1;
  bool upload_done = false;
  ProgressSink progress;
  progress.line = [&](const std::string& line) { out.Progress(line); };
  progress.upload = [&](int64_t sent, int64_t total, const std::string& url) {
    if (out.json() || upload_done) return;
    int percent = static_cast<int>(sent * 100 / total);
    if (percent == last_percent) return;
    last_percent = percent;
    if (tty) std::fprintf(stderr, "\r==> Uploading to %s: %3d%%", url.c_str(), percent);
    if (percent == 100) {
      upload_done = true;
      if (tty) std::fprintf(stderr, "\n");
      else out.Progress("==> Uploaded " + HumanBytes(total) + " to " + url);
    }
  };
  json doc;
  Status s = DeployFolder(flags, progress, &doc);
  if (!s.ok()) {
    // Only a release that ran and failed carries "logs": it gets the container's last lines and the
    // reassurance that the previous release still serves.
    bool ran = doc.contains("logs");
    int code = out.Fail(s, doc);
    if (ran) out.LogLines("last log lines of " + doc.value("release", std::string("the release")) + ":", doc["logs"]);
    if (ran && !out.json()) std::fprintf(stderr, "the previous release (if any) is still serving\n");
    return code;
  }
  doc["ok"] = true;
  out.Json(doc);
  out.Text(doc.value("app", "") + " " + doc.value("release", "") + " is live at " + doc.value("url", "") +
           " (deployed in " + HumanMillis(doc.value("duration_ms", int64_t{0})) + ")\n");
  return exit_code::kOk;
}

}  // namespace bim
