// `bim volumes`, `bim backup` and `bim restore`: an app's named volumes and their data.
#include <unistd.h>

#include <cstdio>

#include "base/file_util.h"
#include "cli/api_client.h"
#include "cli/command_registry.h"
#include "cli/credentials.h"
#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

int RunVolumes(const Output& out, const std::string& app) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  json body;
  if (!(s = ApiClient(server).Get("/v1/apps/" + app + "/volumes", &body)).ok()) return out.Fail(s, json{{"app", app}});
  body["ok"] = true;
  out.Json(body);
  if (body["volumes"].empty()) {
    out.Text(app + " has no volumes (services keep data in named volumes of their Compose file)\n");
    return exit_code::kOk;
  }
  std::string text = Column("VOLUME", 20) + Column("SIZE", 10) + Column("SERVICES", 20) + "DOCKER VOLUME\n";
  for (const auto& v : body["volumes"]) {
    std::string services;
    for (const auto& name : v["services"]) services += (services.empty() ? "" : ",") + name.get<std::string>();
    int64_t size = v.value("size_bytes", int64_t{-1});
    text += Column(v.value("name", ""), 20) + Column(size < 0 ? "?" : HumanBytes(size), 10) +
            Column(services.empty() ? "(none)" : services, 20) + v.value("engine_name", "") + "\n";
  }
  out.Text(text);
  return exit_code::kOk;
}

int RunBackup(const Output& out, const std::string& app, const std::string& volume) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  if (!(s = ValidateVolumeName(volume)).ok()) return out.Fail(s);
  if (isatty(STDOUT_FILENO) && !out.json())
    return out.Fail(Status::InvalidArgument("the archive goes to stdout, which is a terminal: redirect it, e.g. `bim backup " +
                                            app + " " + volume + " > " + volume + ".tar`"));
  InterruptTransfersOnCtrlC();
  out.Progress("==> Backing up volume " + volume + " of " + app + " (its services are paused while it is copied)");
  int64_t bytes = 0;
  bool write_failed = false;
  s = ApiClient(server).Download("/v1/apps/" + app + "/volumes/" + volume + "/backup", [&](std::string_view chunk) {
    bytes += static_cast<int64_t>(chunk.size());
    write_failed = std::fwrite(chunk.data(), 1, chunk.size(), stdout) != chunk.size();
    return !write_failed;
  });
  if (write_failed) s = Status::Internal("cannot write the archive to stdout");
  if (s.ok() && std::fflush(stdout) != 0) s = Status::Internal("cannot write the archive to stdout");
  // With --json the archive owns stdout: the summary goes to stderr as the one JSON document.
  json doc{{"app", app}, {"volume", volume}, {"bytes", bytes}};
  if (!s.ok()) {
    if (s.code() == Code::kUnavailable) s = Status::Unavailable(s.message() + " (the archive on stdout is incomplete)");
    return Output(false).Fail(s);
  }
  doc["ok"] = true;
  if (out.json()) std::fprintf(stderr, "%s\n", doc.dump().c_str());
  else out.Progress("==> Wrote " + HumanBytes(bytes) + " (a tar of the volume's contents)");
  return exit_code::kOk;
}

int RunRestore(const Output& out, const std::string& app, const std::string& volume) {
  ServerConfig server;
  Status s = LoadCredentialsForApp(app, &server);
  if (!s.ok()) return out.Fail(s);
  if (!(s = ValidateVolumeName(volume)).ok()) return out.Fail(s);
  if (isatty(STDIN_FILENO))
    return out.Fail(Status::InvalidArgument("the archive comes from stdin, which is a terminal: `bim restore " + app + " " +
                                            volume + " < " + volume + ".tar`"));
  // Spooled to a file first, so the upload has a length and can show progress.
  char tmpl[] = "/tmp/bim-restore-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return out.Fail(Status::Internal("cannot create a temporary file in /tmp"));
  struct Cleanup {
    std::string path;
    ~Cleanup() { unlink(path.c_str()); }
  } cleanup{tmpl};
  char buf[1 << 16];
  for (ssize_t n; (n = read(STDIN_FILENO, buf, sizeof buf)) != 0;) {
    if (n < 0 || write(fd, buf, static_cast<size_t>(n)) != n) {
      close(fd);
      return out.Fail(Status::Internal("cannot read the archive from stdin"));
    }
  }
  close(fd);
  InterruptTransfersOnCtrlC();
  out.Progress("==> Restoring volume " + volume + " of " + app + " (its services stop while it is replaced)");
  json result;
  long long t0 = MonotonicMillis();
  s = ApiClient(server).PutFileStream(
      "/v1/apps/" + app + "/volumes/" + volume + "/restore", cleanup.path,
      [&](const json& e) {
        if (e.value("event", "") == "step") out.Progress("    " + e.value("message", ""));
        if (e.value("event", "") == "result") result = e;
      },
      nullptr);
  if (s.ok() && result.is_null()) s = Status::Unavailable("bimd ended the restore without a result (see its log)");
  if (s.ok() && !result.value("ok", false))
    s = Status(Status::CodeFromName(result["error"].value("code", "failed")), result["error"].value("message", "restore failed"));
  if (!s.ok()) return out.Fail(s, json{{"app", app}, {"volume", volume}});
  json doc{{"ok", true}, {"app", app}, {"volume", volume}, {"duration_ms", MonotonicMillis() - t0}};
  out.Json(doc);
  out.Text("Restored volume " + volume + " of " + app + " (" + HumanMillis(MonotonicMillis() - t0) + ")\n");
  return exit_code::kOk;
}

}  // namespace

void AddVolumeCommands(CLI::App& cli, CliContext& ctx) {
  static std::string app, volume;
  auto* volumes = cli.add_subcommand("volumes", "List an app's named volumes with their sizes and services");
  volumes->add_option("app", app, "App name")->required();
  ctx.AddJsonFlag(volumes);
  volumes->callback([&ctx] { ctx.exit_code = RunVolumes(ctx.out(), app); });

  auto* backup = cli.add_subcommand("backup", "Write a tar of a volume's contents to stdout (its services are paused meanwhile)");
  backup->add_option("app", app, "App name")->required();
  backup->add_option("volume", volume, "Volume name (see `bim volumes APP`)")->required();
  ctx.AddJsonFlag(backup);
  backup->callback([&ctx] { ctx.exit_code = RunBackup(ctx.out(), app, volume); });

  auto* restore = cli.add_subcommand("restore", "Replace a volume's contents with a tar from stdin (its services are restarted)");
  restore->add_option("app", app, "App name")->required();
  restore->add_option("volume", volume, "Volume name (see `bim volumes APP`)")->required();
  ctx.AddJsonFlag(restore);
  restore->callback([&ctx] { ctx.exit_code = RunRestore(ctx.out(), app, volume); });
}

}  // namespace bim
