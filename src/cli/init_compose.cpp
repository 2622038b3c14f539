#include "cli/init_compose.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/command_runner.h"
#include "base/file_util.h"
#include "base/health_probe.h"
#include "cli/init_writer.h"
#include "core/app_config.h"
#include "core/stack_detect.h"

namespace bim {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The compose program: the docker CLI's plugin if it answers, else the standalone docker-compose.
Status FindCompose(std::vector<std::string>* argv) {
  SubprocessRunner runner;
  std::string ignored;
  if (runner.Run({"docker", "compose", "version"}, &ignored).ok()) {
    *argv = {"docker", "compose"};
    return Status::OK();
  }
  if (runner.Run({"docker-compose", "version"}, &ignored).ok()) {
    *argv = {"docker-compose"};
    return Status::OK();
  }
  return Status::FailedPrecondition(
      "neither `docker compose` nor `docker-compose` works here; install one (bim's scripts/setup.sh "
      "installs Debian's docker-compose) and make sure dockerd is running");
}

// A directory only this user can use, for generated compose files: a shared /tmp must not let
// another user swap the file bim hands to compose.
Status PrivateDir(const std::string& project, std::string* out) {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  std::error_code ec;
  fs::path base = runtime != nullptr && fs::is_directory(runtime, ec) ? fs::path(runtime) : fs::temp_directory_path(ec);
  fs::path root = base / ("bim-up-" + std::to_string(geteuid()));
  if (Status s = MakeDirs(root.string(), 0700); !s.ok()) return s;
  struct stat st;
  if (lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
    return Status::FailedPrecondition(root.string() + " is not a private directory of this user; remove it and retry");
  *out = (root / project).string();
  return MakeDirs(*out, 0700);
}

std::string YamlString(const std::string& s) { return json(s).dump(); }  // JSON strings are YAML strings

std::string UserComposeFile(const std::string& dir) {
  for (const char* name : {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"})
    if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  return "";
}

}  // namespace

std::string LocalProjectName(const std::string& abs_dir, const std::string& app) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and machines
  for (unsigned char c : abs_dir) h = (h ^ c) * 1099511628211ull;
  return fmt::format("bim-{}-{:08x}", app.substr(0, 40), static_cast<uint32_t>(h ^ (h >> 32)));
}

Status PrepareLocalRun(const std::string& dir_arg, LocalRun* out) {
  std::error_code ec;
  if (!fs::is_directory(dir_arg, ec)) return Status::InvalidArgument("no such folder: " + dir_arg);
  out->dir = fs::absolute(dir_arg).lexically_normal().string();
  if (!out->dir.empty() && out->dir.back() == '/' && out->dir.size() > 1) out->dir.pop_back();
  AppConfig config;
  std::string toml;
  Status s = ReadFile(out->dir + "/bim.toml", &toml);
  if (s.ok()) {
    if (!(s = ParseAppConfig(toml, &config)).ok()) return s;
  } else if (!s.IsNotFound()) {
    return s;
  }
  out->app = config.app.empty() ? SanitizeAppName(fs::path(out->dir).filename().string()) : config.app;
  out->port = config.port;
  out->health_path = config.health.path;
  out->health_timeout = config.health.timeout;
  out->project = LocalProjectName(out->dir, out->app);
  out->url = fmt::format("http://127.0.0.1:{}/", out->port);
  const bool have_env = fs::exists(out->dir + "/.env", ec);

  out->compose_file = UserComposeFile(out->dir);
  out->generated = out->compose_file.empty();
  if (!out->generated) {
    out->missing_env = !have_env;
  } else {
    if (!fs::exists(out->dir + "/Dockerfile", ec))
      return Status::InvalidArgument(out->dir + " has neither a compose file nor a Dockerfile; run `bim init` first");
    std::string template_dir, rendered, private_dir;
    if (!(s = InitTemplateDir("", &template_dir)).ok()) return s;
    TemplateVars vars = {{"command", "up"},
                         {"app", out->app},
                         {"port", std::to_string(out->port)},
                         {"context", YamlString(out->dir)},
                         {"env_file", YamlString(out->dir + "/.env")},
                         {"project", YamlString(out->project)},
                         {"has_project", "true"}};
    if (have_env) vars["has_env"] = "true";
    if (!(s = RenderInitTemplate(template_dir, "docker-compose.yml.mustache", vars, &rendered)).ok()) return s;
    if (!(s = PrivateDir(out->project, &private_dir)).ok()) return s;
    out->compose_file = private_dir + "/docker-compose.yml";
    if (!(s = WriteFileAtomically(out->compose_file, rendered, 0600)).ok()) return s;
  }
  return FindCompose(&out->compose);
}

namespace {

std::vector<std::string> ComposeArgv(const LocalRun& run, std::vector<std::string> tail) {
  std::vector<std::string> argv = run.compose;
  for (const auto& a : {std::string("--project-name"), run.project, std::string("--file"), run.compose_file})
    argv.push_back(a);
  argv.insert(argv.end(), tail.begin(), tail.end());
  return argv;
}

std::string Joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

json RunDoc(const LocalRun& run) {
  return {{"app", run.app},         {"dir", run.dir},           {"project", run.project},
          {"port", run.port},       {"url", run.url},           {"compose_file", run.compose_file},
          {"generated", run.generated}, {"compose", Joined(run.compose)}};
}

}  // namespace

int RunUp(const Output& out, const std::string& dir) {
  long long t0 = MonotonicMillis();
  LocalRun run;
  if (Status s = PrepareLocalRun(dir, &run); !s.ok()) return out.Fail(s);
  if (run.missing_env) {
    std::string text;
    if (ReadFile(run.compose_file, &text).ok() && text.find("env_file") != std::string::npos)
      return out.Fail(Status::FailedPrecondition(
          run.compose_file + " reads .env and there is none; " +
          (std::filesystem::exists(run.dir + "/.env.example") ? "copy .env.example to .env and fill in the values"
                                                              : "create .env with the app's settings (it may be empty)")));
  }
  out.Progress("==> " + std::string(run.generated ? "No compose file: running from bim.toml + Dockerfile" :
                                                   "Using " + run.compose_file) +
               " (project " + run.project + ")");
  std::vector<std::string> argv = ComposeArgv(run, {"up", "--detach", "--build"});
  out.Progress("==> " + Joined(argv));
  Status s = SubprocessRunner().RunAttached(argv, /*stdout_to_stderr=*/out.json());
  if (s.code() == Code::kFailedPrecondition)
    s = Status::FailedPrecondition(s.message() + " (its output is above); `bim down " + dir + "` cleans up");
  if (!s.ok()) return out.Fail(s, RunDoc(run));

  // Ready when the health path answers, as bimd would require before routing traffic.
  out.Progress("==> Waiting for " + run.url.substr(0, run.url.size() - 1) + run.health_path + " to answer 2xx/3xx");
  auto deadline = std::chrono::steady_clock::now() + run.health_timeout;
  // The same probe bimd's health gate uses.
  auto answers = [&] { return ProbeHealth(run.port, run.health_path, std::chrono::milliseconds(2000)).ok(); };
  bool healthy = answers();
  while (!healthy && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    healthy = answers();
  }
  json doc = RunDoc(run);
  doc["healthy"] = healthy;
  doc["duration_ms"] = MonotonicMillis() - t0;
  if (!healthy)
    return out.Fail(Status::FailedPrecondition(fmt::format(
                        "{} is up but {} did not answer 2xx/3xx within {}; see `{}` and check the port in bim.toml",
                        run.app, run.health_path, FormatDuration(run.health_timeout),
                        Joined(ComposeArgv(run, {"logs"})))),
                    doc);
  doc["ok"] = true;
  out.Json(doc);
  out.Text(run.app + " is running locally at " + run.url + "\nStop it with: bim down" +
           (dir == "." ? std::string() : " " + dir) + "\n");
  return exit_code::kOk;
}

int RunDown(const Output& out, const std::string& dir) {
  LocalRun run;
  if (Status s = PrepareLocalRun(dir, &run); !s.ok()) return out.Fail(s);
  std::vector<std::string> argv = ComposeArgv(run, {"down", "--rmi", "local", "--volumes", "--remove-orphans"});
  out.Progress("==> " + Joined(argv));
  Status s = SubprocessRunner().RunAttached(argv, /*stdout_to_stderr=*/out.json());
  if (s.code() == Code::kFailedPrecondition) s = Status::FailedPrecondition(s.message() + " (its output is above)");
  if (!s.ok()) return out.Fail(s, RunDoc(run));
  if (run.generated) {
    std::error_code ec;
    fs::remove_all(fs::path(run.compose_file).parent_path(), ec);
  }
  json doc = RunDoc(run);
  doc["ok"] = true;
  out.Json(doc);
  out.Text("Stopped " + run.app + " and removed its containers, network and locally built image.\n");
  return exit_code::kOk;
}

}  // namespace bim
