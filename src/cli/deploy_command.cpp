// `bim deploy`: pack the folder, upload it with the app's settings and .env, show bimd's progress.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/app_folder.h"
#include "cli/commands.h"
#include "cli/context_pack.h"
#include "cli/context_upload.h"
#include "cli/local_build.h"
#include "cli/credentials.h"
#include "cli/git_source.h"
#include "core/app_config.h"
#include "core/app_services.h"
#include "core/compose.h"
#include "core/dotenv.h"
#include "core/terminal_text.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

// A temporary file removed when it goes out of scope ("" if none could be made).
class TempFile {
 public:
  explicit TempFile(const char* pattern) {
    std::string tmpl = pattern;
    int fd = mkstemp(tmpl.data());
    if (fd < 0) return;
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() { Remove(); }
  const std::string& path() const { return path_; }
  void Remove() {
    if (!path_.empty()) unlink(path_.c_str());
    path_.clear();
  }

 private:
  std::string path_;
};

using Say = std::function<void(const std::string&)>;

std::string Plural(int64_t n, const std::string& one) { return std::to_string(n) + " " + one + (n == 1 ? "" : "s"); }

// The default: send the folder's manifest, then only the file contents bimd lacks ("contents" part).
Status PrepareContextUpload(const DeployFlags& flags, const AppConfig& config, const ApiClient& client, const Say& say,
                            const std::string& file, json* meta, std::string* part, json* upload) {
  ContextUploadPlan plan;
  Status s = PlanContextUpload(client, config.app, flags.dir, &plan, !meta->contains("compose"));
  for (const auto& w : plan.stats.warnings) say("warning: " + w);
  if (!s.ok()) return s;
  int64_t packed = 0;
  if (!plan.missing.empty()) {
    if (file.empty()) return Status::Internal("cannot create a temporary file in /tmp");
    if (!(s = PackMissingContents(plan, file, &packed)).ok()) return s;
    *part = "contents";
  }
  int64_t files_sent = static_cast<int64_t>(plan.missing.size());
  say("==> Packed " + Plural(plan.stats.files, "file") + " (" + HumanBytes(plan.stats.bytes) + ") from " + flags.dir +
      ": " + (files_sent == 0 ? "nothing to send" : Plural(files_sent, "file") + " to send (" +
                                                       HumanBytes(plan.missing_bytes) + ", " + HumanBytes(packed) +
                                                       " compressed)"));
  (*meta)["context"] = {{"manifest", plan.manifest_id}};
  (*meta)["source_digest"] = SourceDigest(plan.entries);
  std::string summary = files_sent == 0 ? "no file contents" : Plural(files_sent, "changed file");
  if (plan.present_bytes > 0) summary += "; " + HumanBytes(plan.present_bytes) + " already there";
  *upload = json{{"mode", "context"},
                 {"sent_bytes", plan.manifest_bytes_sent + packed},
                 {"content_bytes", packed},
                 {"manifest_bytes", plan.manifest_bytes_sent},
                 {"manifest_delta", plan.sent_delta},
                 {"files", plan.stats.files},
                 {"files_sent", files_sent},
                 {"bytes", plan.stats.bytes},
                 {"reused_bytes", plan.present_bytes},
                 {"summary", summary}};
  return Status::OK();
}

// --build local: build with the developer's Docker, send only the image layers bimd lacks ("image").
Status PrepareImageUpload(const DeployFlags& flags, const AppConfig& config, const ApiClient& client, const Say& say,
                          const std::string& file, json* meta, std::string* part, json* upload) {
  std::string socket;
  Status s = LocalDockerSocket(&socket);
  if (!s.ok()) return s;
  json server;
  if (!(s = client.Get("/v1/server", &server)).ok()) return s;
  DockerClient docker(socket);
  if (!(s = docker.Ping()).ok()) return s.Wrap("--build local needs Docker on this machine");
  say("==> Building " + config.app + " with the local Docker (" + socket + ")");
  LocalImage image;
  s = BuildLocally(docker, flags.dir, config, server.value("instance", ""),
                   [&](std::string_view line) { say("    | " + std::string(line)); }, &image);
  if (!s.ok()) return s;
  if (file.empty()) return Status::Internal("cannot create a temporary file in /tmp");
  ImageUploadPlan plan;
  if (!(s = PlanImageUpload(client, docker, config.app, image, file, &plan)).ok()) return s;
  int layers = static_cast<int>(image.layers.size());
  if (!plan.server_has_image) *part = "image";
  say("==> Built image " + image.id.substr(0, 19) + " (" + Plural(layers, "layer") + "): " +
      (plan.server_has_image ? std::string("bimd already has it")
                             : Plural(plan.layers_sent, "layer") + " to send (" + HumanBytes(plan.archive_bytes) +
                                   " compressed), " + std::to_string(plan.held_layers) + " already there"));
  (*meta)["image"] = {{"id", image.id}, {"layers", image.layers}};
  (*meta)["source_digest"] = image.source_digest;
  std::string summary = plan.server_has_image ? "bimd already has the image" : Plural(plan.layers_sent, "new layer");
  if (plan.layer_bytes_held > 0) summary += "; " + HumanBytes(plan.layer_bytes_held) + " of layers already there";
  *upload = json{{"mode", "image"},
                 {"image", image.id},
                 {"sent_bytes", plan.server_has_image ? 0 : plan.archive_bytes},
                 {"layers", layers},
                 {"layers_sent", plan.server_has_image ? 0 : plan.layers_sent},
                 {"layers_held", plan.server_has_image ? layers : plan.held_layers},
                 {"reused_bytes", plan.layer_bytes_held},
                 {"summary", summary}};
  return Status::OK();
}

// Finds the folder's Compose file (compose.yaml first, in Compose's order), reads the env files it
// names and checks it here, before anything is uploaded (variables come from .env only; bimd, which
// also has the app's stored env, interpolates it for real). *compose stays null without one.
Status LoadCompose(const std::string& dir, const AppConfig& config, const EnvList& env, json* compose,
                   const std::function<void(const std::string&)>& say) {
  std::vector<std::string> found;
  for (const char* name : kComposeFileNames)
    if (std::filesystem::is_regular_file(dir + "/" + name)) found.push_back(name);
  if (found.empty()) return Status::OK();
  if (found.size() > 1) say("warning: found " + found[0] + " and " + found[1] + "; using " + found[0] + " (as Compose does)");
  ComposeSource source;
  source.file_name = found[0];
  if (Status s = ReadFile(dir + "/" + source.file_name, &source.text); !s.ok()) return s;
  if (WrittenByBimInit(source.text)) return Status::OK();  // bim up's file: one app, as without Compose
  std::vector<std::string> env_files;
  if (Status s = ComposeEnvFiles(source.file_name, source.text, &env_files); !s.ok()) return s;
  for (const auto& path : env_files) {
    std::string text;
    Status s = ReadFile(dir + "/" + path, &text);
    if (s.ok()) source.env_files[path] = text;
    else if (!s.IsNotFound()) return s;
  }
  source.variables = env;
  source.require_variables = false;
  source.profiles = config.profiles;
  ComposeProject project;
  if (Status s = ParseCompose(source, &project); !s.ok()) return s;
  AppServices services;
  if (Status s = ComposeAppServices(config, project, env, &services); !s.ok()) return s;
  *compose = json{{"file", source.file_name}, {"text", source.text}, {"env_files", source.env_files}};
  std::string names;
  for (const auto& svc : services.services) names += (names.empty() ? "" : ", ") + svc.name;
  say("==> " + source.file_name + ": " + std::to_string(services.services.size()) + " services (" + names + ")");
  return Status::OK();
}

}  // namespace

Status DeployFolder(const DeployFlags& flags, const ProgressSink& progress, json* result) {
  long long t0 = MonotonicMillis();
  *result = json::object();
  auto say = [&](const std::string& line) {
    if (progress.line) progress.line(line);
  };
  AppFolder folder;
  Status s = LoadAppFolder(flags.dir, flags.app, &folder);
  if (!s.ok()) return s;
  const AppConfig& config = folder.config;
  if (folder.name_source == AppNameSource::kFolder)
    say("==> Deploying " + folder.NameWhy() + " (set app in bim.toml to choose another)");
  EnvList env;
  if (!(s = LoadDotenv(flags.dir, &env)).ok()) return s;
  json compose;
  if (!(s = LoadCompose(flags.dir, config, env, &compose, say)).ok()) return s;
  if (!compose.is_null() && flags.build == "local")
    return Status::InvalidArgument("--build local builds one Dockerfile, but " + compose["file"].get<std::string>() +
                                   " makes this a Compose app, which bimd builds: deploy without --build local");
  ServerConfig server;
  if (!(s = LoadCredentials(&server)).ok()) return s;
  ApiClient client(server);

  GitSource source;
  if (!(s = ReadGitSource(flags.dir, &source)).ok()) say("warning: " + s.message() + "; the release records no commit");
  json meta{{"app", config.app},
            {"health", {{"path", config.health.path}, {"timeout_ms", config.health.timeout.count()}}},
            {"env", json::array()},
            {"git_commit", source.commit},
            {"git_dirty", source.dirty},
            {"wait", flags.wait},
            {"wait_watch", flags.wait_watch}};
  if (config.health.watch) meta["health"]["watch_ms"] = config.health.watch->count();
  for (const auto& var : env) meta["env"].push_back({{"key", var.key}, {"value", var.value}});
  if (!config.build_args.empty()) meta["build_args"] = config.build_args;  // [build.args] in bim.toml
  // A Compose app takes its port from the file unless bim.toml names one.
  if (compose.is_null() || config.port_set) meta["port"] = config.port;
  if (!compose.is_null()) meta["compose"] = compose;
  if (!config.service.empty()) meta["service"] = config.service;
  if (!config.profiles.empty()) meta["profiles"] = config.profiles;
  for (const auto& r : config.routes)
    meta["routes"][r.name] = {{"service", r.service}, {"port", r.port}, {"health", r.health_path}, {"domains", r.domains}};
  if (config.build_timeout.count() > 0) meta["build_timeout_ms"] = config.build_timeout.count();
  json resources = json::object();  // [resources] in bim.toml; what is absent takes the server's default
  if (config.resources.memory_bytes > 0) resources["memory_bytes"] = config.resources.memory_bytes;
  if (config.resources.nano_cpus > 0) resources["nano_cpus"] = config.resources.nano_cpus;
  if (config.resources.pids > 0) resources["pids"] = config.resources.pids;
  if (!resources.empty()) meta["resources"] = resources;
  // [deploy]: placement always (bim.toml is its whole truth), replicas only when bim.toml names a count.
  meta["deploy"] = {{"placement", config.deploy.placement}};
  if (config.deploy.replicas > 0) meta["deploy"]["replicas"] = config.deploy.replicas;
  meta["http"] = {{"force_https", config.http.force_https}, {"hsts", config.http.hsts}};  // [http] in bim.toml

  // What travels: the contents bimd lacks (default), or the image layers it lacks (--build local).
  TempFile upload_file("/tmp/bim-upload-XXXXXX");
  std::string part;
  json upload;
  s = flags.build == "local" ? PrepareImageUpload(flags, config, client, say, upload_file.path(), &meta, &part, &upload)
                             : PrepareContextUpload(flags, config, client, say, upload_file.path(), &meta, &part, &upload);
  if (!s.ok()) return s;
  if (!upload_file.path().empty() && part.empty()) upload_file.Remove();
  if (source.dirty)
    say("==> Uncommitted changes: recorded as " + ShortSource(source.commit, true) + " (content " +
        meta.value("source_digest", std::string()).substr(0, 19) + ")");
  (*result)["upload"] = upload;

  json outcome;
  std::vector<std::string> build_lines;
  bool said_uploaded = false;
  auto uploaded = [&] {
    if (said_uploaded) return;
    said_uploaded = true;
    say("==> Uploaded " + HumanBytes(upload.value("sent_bytes", int64_t{0})) + " to " + server.url + " (" +
        upload.value("summary", std::string()) + ")");
  };
  auto on_upload = [&](int64_t sent, int64_t total) {
    if (progress.upload) progress.upload(sent, total, server.url);
    if (sent == total) uploaded();
  };
  auto on_event = [&](const json& e) {
    std::string kind = e.value("event", "");
    if (kind == "release") {
      say("==> Release " + e.value("release", "") + " of " + e.value("app", ""));
    } else if (kind == "step") {
      uploaded();  // bimd is at work: the upload is over
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
  s = client.Deploy(config.app, meta, part, part.empty() ? "" : upload_file.path(), on_event, on_upload);
  if (!s.ok()) {
    *result = json{{"app", config.app}, {"upload", upload}};
    return s;
  }
  if (outcome.is_null()) return Status::Unavailable("bimd ended the deploy without a result (see its log)");

  json& doc = *result;
  doc = json{{"app", config.app},
             {"url", outcome.value("url", "")},
             {"duration_ms", MonotonicMillis() - t0},
             {"unchanged", outcome.value("unchanged", false)},
             {"upload", upload}};
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
      if (tty) std::fprintf(stderr, "\r\033[K");  // DeployFolder says what was uploaded
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
  std::string watched;
  if (doc.contains("details") && doc["details"].contains("watch") && doc["details"]["watch"].is_object()) {
    const json& w = doc["details"]["watch"];
    if (w.value("state", "") == "passed")
      watched = "; healthy through its " + HumanMillis(w.value("window_ms", int64_t{0})) + " watch";
    else if (w.value("state", "") == "watching")
      watched = "; watched for " + HumanMillis(w.value("window_ms", int64_t{0})) + " (`bim status " +
                doc.value("app", "") + "`)";
  }
  out.Text(doc.value("app", "") + " " + doc.value("release", "") + " is live at " + doc.value("url", "") +
           (doc.value("unchanged", false) ? " (unchanged, nothing to deploy; checked in "
                                          : " (deployed in ") +
           HumanMillis(doc.value("duration_ms", int64_t{0})) + watched + ")\n");
  return exit_code::kOk;
}

}  // namespace bim
