#include "cli/local_run.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/command_runner.h"
#include "base/file_util.h"
#include "base/health_probe.h"
#include "cli/app_folder.h"
#include "cli/context_pack.h"
#include "cli/local_build.h"
#include "docker/docker_client.h"

namespace bim {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kLogLinesOnFailure = 20;  // as bimd shows for a failed release
constexpr int kStopSeconds = 10;

// The user's own compose file, if any. One bim wrote (older `bim init`s did) is not the user's: it
// cannot know bim.toml's later changes, so bim runs the app itself instead.
std::string UserComposeFile(const std::string& dir) {
  for (const char* name : {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}) {
    std::string path = (fs::path(dir) / name).string(), text;
    if (ReadFile(path, &text).ok() && !text.starts_with("# Written by `bim")) return path;
  }
  return "";
}

// The compose program: the docker CLI's plugin if it answers, else the standalone docker-compose.
Status FindCompose(std::vector<std::string>* argv) {
  SubprocessRunner runner;
  std::string ignored;
  for (std::vector<std::string> candidate : {std::vector<std::string>{"docker", "compose"},
                                             std::vector<std::string>{"docker-compose"}}) {
    std::vector<std::string> probe = candidate;
    probe.push_back("version");
    if (runner.Run(probe, &ignored).ok()) {
      *argv = candidate;
      return Status::OK();
    }
  }
  return Status::FailedPrecondition(
      "this folder has its own compose file but neither `docker compose` nor `docker-compose` works here; "
      "install one (bim's scripts/setup.sh installs Debian's docker-compose)");
}

std::vector<std::string> ComposeArgv(const LocalRun& run, const std::vector<std::string>& tail) {
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
  json doc{{"app", run.config.app}, {"dir", run.dir},   {"project", run.project},
           {"port", run.config.port}, {"url", run.url}, {"runner", run.compose_file.empty() ? "bim" : "compose"}};
  if (run.compose_file.empty()) doc["image"] = run.image;
  else doc["compose_file"] = run.compose_file;
  return doc;
}

// Waits until the health path answers 2xx/3xx, as bimd's health gate does before routing traffic.
// `exited` is polled between probes so a crashed app fails fast. FailedPrecondition on timeout.
Status WaitHealthy(const LocalRun& run, const std::function<Status()>& exited) {
  const auto deadline = std::chrono::steady_clock::now() + run.config.health.timeout;
  std::string last;
  for (;;) {
    Status h = ProbeHealth(run.config.port, run.config.health.path, std::chrono::milliseconds(2000));
    if (h.ok()) return Status::OK();
    last = h.message();
    if (Status e = exited(); !e.ok()) return e;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::FailedPrecondition(fmt::format(
      "{} started but GET {} did not answer 2xx/3xx within {} ({}); check the port in bim.toml ({}) is the one "
      "the app listens on",
      run.config.app, run.config.health.path, FormatDuration(run.config.health.timeout), last, run.config.port));
}

// bim's own run: build like bimd, start one container published on loopback.
Status UpWithEngine(const Output& out, const LocalRun& run, json* doc) {
  EnvList env;
  if (Status s = LoadDotenv(run.dir, &env); !s.ok()) return s.Wrap(".env");
  std::string socket;
  if (Status s = LocalDockerSocket(&socket); !s.ok()) return s;
  DockerClient docker(socket);
  if (Status s = docker.Ping(); !s.ok()) return s;
  const Labels labels = {{kLocalLabel, "true"}, {kLocalProjectLabel, run.project}};
  auto packed = [&](const PackStats& stats) {
    for (const auto& w : stats.warnings) out.Progress("warning: " + w);
    const size_t args = run.config.build_args.size();
    out.Progress("==> Building " + run.image + " from " + run.dir + " (" + std::to_string(stats.files) + " files" +
                 (args == 0 ? "" : ", " + std::to_string(args) + " build args from bim.toml") + ")");
  };
  PackStats stats;
  std::string image_id;
  Status s = BuildFolder(docker, run.dir, run.config, run.image, labels, packed,
                         [&](std::string_view line) { out.Progress("    | " + std::string(line)); }, &stats, &image_id);
  if (!s.ok()) return s;
  // A second `up` replaces the first run's container.
  docker.RemoveContainer(run.project, /*force=*/true);
  ContainerSpec spec;
  spec.name = run.project;
  spec.image = run.image;
  for (const auto& var : env) spec.env.push_back(var.key + "=" + var.value);
  spec.labels = labels;
  spec.container_port = run.config.port;
  spec.host_port = run.config.port;
  spec.restart_policy = "no";
  spec.stop_timeout_seconds = kStopSeconds;
  std::string id;
  out.Progress("==> Starting " + run.project + " on " + run.url + " (.env: " + std::to_string(env.size()) + " keys)");
  if (!(s = docker.CreateContainer(spec, &id)).ok()) return s;
  if (!(s = docker.StartContainer(id)).ok()) {
    docker.RemoveContainer(id, true);
    return Status::FailedPrecondition(s.message() + " (is port " + std::to_string(run.config.port) +
                                      " on 127.0.0.1 taken? stop what uses it or change port in bim.toml)");
  }
  (*doc)["container"] = run.project;
  out.Progress("==> Waiting for GET " + run.config.health.path + " to answer 2xx/3xx");
  s = WaitHealthy(run, [&]() -> Status {
    ContainerInfo info;
    if (docker.InspectContainer(id, &info).ok() && !info.running)
      return Status::FailedPrecondition(fmt::format("{} exited with code {}{} before answering", run.config.app,
                                                    info.exit_code, info.oom_killed ? " (out of memory)" : ""));
    return Status::OK();
  });
  if (!s.ok()) {
    json logs = json::array();
    docker.ContainerLogs(id, kLogLinesOnFailure, false, [&](std::string_view line) { logs.push_back(std::string(line)); });
    (*doc)["logs"] = logs;
    return Status::FailedPrecondition(s.message() + "; `bim down` removes it");
  }
  return Status::OK();
}

Status UpWithCompose(const Output& out, const LocalRun& run) {
  std::string text;
  if (ReadFile(run.compose_file, &text).ok() && text.find("env_file") != std::string::npos &&
      !fs::exists(run.dir + "/.env"))
    return Status::FailedPrecondition(
        run.compose_file + " reads .env and there is none; " +
        (fs::exists(run.dir + "/.env.example") ? "copy .env.example to .env and fill in the values"
                                               : "create .env with the app's settings (it may be empty)"));
  std::vector<std::string> argv = ComposeArgv(run, {"up", "--detach", "--build"});
  out.Progress("==> " + Joined(argv));
  Status s = SubprocessRunner().RunAttached(argv, /*stdout_to_stderr=*/out.json());
  if (s.code() == Code::kFailedPrecondition) return Status::FailedPrecondition(s.message() + " (its output is above)");
  if (!s.ok()) return s;
  out.Progress("==> Waiting for GET " + run.config.health.path + " to answer 2xx/3xx");
  return WaitHealthy(run, [] { return Status::OK(); });
}

}  // namespace

std::string LocalProjectName(const std::string& abs_dir, const std::string& app) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and machines
  for (unsigned char c : abs_dir) h = (h ^ c) * 1099511628211ull;
  return fmt::format("bim-{}-{:08x}", app.substr(0, 40), static_cast<uint32_t>(h ^ (h >> 32)));
}

Status PrepareLocalRun(const std::string& dir_arg, LocalRun* out) {
  AppFolder folder;
  if (Status s = LoadAppFolder(dir_arg, "", &folder); !s.ok()) return s;
  out->config = folder.config;
  out->dir = fs::absolute(dir_arg).lexically_normal().string();
  if (out->dir.size() > 1 && out->dir.back() == '/') out->dir.pop_back();
  out->project = LocalProjectName(out->dir, out->config.app);
  out->image = out->project + ":up";
  out->url = fmt::format("http://127.0.0.1:{}/", out->config.port);
  out->compose_file = UserComposeFile(out->dir);
  if (!out->compose_file.empty()) return FindCompose(&out->compose);
  std::error_code ec;
  if (!fs::exists(out->dir + "/Dockerfile", ec))
    return Status::InvalidArgument(out->dir + " has neither a Dockerfile nor a compose file; run `bim init` first");
  return Status::OK();
}

int RunUp(const Output& out, const std::string& dir) {
  long long t0 = MonotonicMillis();
  LocalRun run;
  if (Status s = PrepareLocalRun(dir, &run); !s.ok()) return out.Fail(s);
  json doc = RunDoc(run);
  Status s = run.compose_file.empty() ? UpWithEngine(out, run, &doc) : UpWithCompose(out, run);
  doc["duration_ms"] = MonotonicMillis() - t0;
  if (!s.ok()) {
    int code = out.Fail(s, doc);
    if (!out.json() && doc.contains("logs") && !doc["logs"].empty()) {
      std::fprintf(stderr, "last log lines of %s:\n", run.project.c_str());
      for (const auto& line : doc["logs"]) std::fprintf(stderr, "  %s\n", line.get<std::string>().c_str());
    }
    return code;
  }
  doc["ok"] = true;
  out.Json(doc);
  out.Text(run.config.app + " is running locally at " + run.url + "\nStop it with: bim down" +
           (dir == "." ? std::string() : " " + dir) + "\n");
  return exit_code::kOk;
}

int RunDown(const Output& out, const std::string& dir) {
  LocalRun run;
  if (Status s = PrepareLocalRun(dir, &run); !s.ok()) return out.Fail(s);
  json doc = RunDoc(run);
  int containers = 0, images = 0;
  if (!run.compose_file.empty()) {
    // Compose's own output ("Image ... not found" after a failed up, say) is shown only on failure.
    std::vector<std::string> argv = ComposeArgv(run, {"down", "--rmi", "local", "--volumes", "--remove-orphans"});
    out.Progress("==> " + Joined(argv));
    std::string output;
    if (Status s = SubprocessRunner().Run(argv, &output); !s.ok()) {
      std::fprintf(stderr, "%s", output.c_str());
      return out.Fail(Status(s.code(), s.message() + " (its output is above)"), doc);
    }
  } else {
    std::string socket;
    if (Status s = LocalDockerSocket(&socket); !s.ok()) return out.Fail(s, doc);
    DockerClient docker(socket);
    if (Status s = docker.Ping(); !s.ok()) return out.Fail(s, doc);
    const Labels mine = {{kLocalProjectLabel, run.project}};
    std::vector<ContainerInfo> found;
    if (Status s = docker.ListContainers(mine, /*all=*/true, &found); !s.ok()) return out.Fail(s, doc);
    for (const auto& c : found) {
      docker.StopContainer(c.id, kStopSeconds);
      if (docker.RemoveContainer(c.id, true).ok()) ++containers;
    }
    std::vector<ImageInfo> built;
    if (Status s = docker.ListImages(mine, &built); !s.ok()) return out.Fail(s, doc);
    for (const auto& image : built)
      if (docker.RemoveImage(image.id, /*force=*/true).ok()) ++images;
    doc["removed"] = {{"containers", containers}, {"images", images}};
  }
  doc["ok"] = true;
  out.Json(doc);
  if (run.compose_file.empty() && containers + images == 0)
    out.Text("Nothing of " + run.config.app + " was running here (no container or image of `bim up` for " + run.dir +
             ").\n");
  else
    out.Text("Stopped " + run.config.app + " and removed its containers and locally built image.\n");
  return exit_code::kOk;
}

}  // namespace bim
