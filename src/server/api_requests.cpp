#include "server/api_requests.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "base/random.h"
#include "core/compose.h"
#include "core/multipart.h"
#include "core/placement.h"
#include "core/validate.h"
#include "http/http_server.h"
#include "server/auth.h"
#include "server/context_check.h"

namespace bim {

using nlohmann::json;

namespace {
constexpr size_t kMaxMetaBytes = 1 << 20;

// A Compose app's part of the meta: {"compose": {"file", "text", "env_files": {path: contents}},
// "service", "profiles": [...], "routes": {name: {service, port, health, domains}}}.
Status ParseComposeMeta(const json& meta, DeployRequest* out) {
  Status s;
  if (meta.contains("compose") && !meta["compose"].is_null()) {
    const json& c = meta["compose"];
    if (!c.is_object() || !c.contains("text") || !c["text"].is_string())
      return Status::InvalidArgument("compose must be {\"file\": name, \"text\": the file's contents}");
    out->compose.text = c["text"].get<std::string>();
    std::string file = c.value("file", std::string("compose.yaml"));
    if (std::find(std::begin(kComposeFileNames), std::end(kComposeFileNames), file) == std::end(kComposeFileNames))
      return Status::InvalidArgument("compose.file must be one of compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml");
    out->compose.file_name = file;
    if (c.contains("env_files")) {
      if (!c["env_files"].is_object()) return Status::InvalidArgument("compose.env_files must be an object of path: contents");
      for (const auto& [path, text] : c["env_files"].items()) {
        if (!text.is_string()) return Status::InvalidArgument("compose.env_files values must be strings");
        out->compose.env_files[path] = text.get<std::string>();
      }
    }
    // Checked here, before anything is built; bimd parses it again with the app's stored env.
    ComposeSource check = out->compose;
    check.require_variables = false;
    ComposeProject ignored;
    if (!(s = ParseCompose(check, &ignored)).ok()) return s;
  }
  if (meta.contains("service")) {
    if (!meta["service"].is_string()) return Status::InvalidArgument("service must be a string");
    out->config.service = meta["service"].get<std::string>();
    if (!(s = ValidateServiceName(out->config.service)).ok()) return s;
  }
  if (meta.contains("profiles")) {
    if (!meta["profiles"].is_array()) return Status::InvalidArgument("profiles must be a list of names");
    for (const json& p : meta["profiles"]) {
      if (!p.is_string()) return Status::InvalidArgument("profiles must be a list of names");
      if (!(s = ValidateProfileName(p.get<std::string>())).ok()) return s;
      out->config.profiles.push_back(p.get<std::string>());
    }
  }
  if (meta.contains("routes")) {
    if (!meta["routes"].is_object()) return Status::InvalidArgument("routes must be an object of name: {service, port, health, domains}");
    for (const auto& [name, r] : meta["routes"].items()) {
      if (!r.is_object()) return Status::InvalidArgument("routes." + name.substr(0, 63) + " must be an object");
      RouteConfig route;
      route.name = name;
      route.service = r.value("service", std::string());
      route.port = r.value("port", 0);
      route.health_path = r.value("health", std::string("/"));
      route.domains = r.value("domains", std::vector<std::string>());
      if (!(s = ValidateRouteConfig(route)).ok()) return s;
      out->config.routes.push_back(std::move(route));
    }
  }
  return Status::OK();
}

}  // namespace

Status ParseDeployMeta(const std::string& meta_text, const std::string& path_app, DeployRequest* out) {
  json meta = json::parse(meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return Status::InvalidArgument("deploy meta is not a JSON object");
  Status s = ValidateAppName(path_app);
  if (!s.ok()) return s;
  try {
    std::string app = meta.value("app", path_app);
    if (app != path_app) return Status::InvalidArgument("deploy meta names app \"" + app + "\" but the URL names \"" + path_app + "\"");
    out->config.app = app;
    if (meta.contains("port")) {
      if (!meta["port"].is_number_integer()) return Status::InvalidArgument("port must be an integer 1-65535");
      long port = meta["port"].get<long>();
      if (!(s = ValidatePort(port)).ok()) return s;
      out->config.port = static_cast<int>(port);
      out->config.port_set = true;
    }
    if (meta.contains("health")) {
      const json& h = meta["health"];
      if (!h.is_object()) return Status::InvalidArgument("health must be an object");
      if (h.contains("path")) {
        if (!h["path"].is_string()) return Status::InvalidArgument("health.path must be a string");
        out->config.health.path = h["path"].get<std::string>();
        if (!(s = ValidateHealthPath(out->config.health.path)).ok()) return s;
      }
      if (h.contains("timeout_ms")) {
        if (!h["timeout_ms"].is_number_integer()) return Status::InvalidArgument("health.timeout_ms must be an integer");
        std::chrono::milliseconds timeout(h["timeout_ms"].get<long long>());
        if (!(s = ValidateHealthTimeout(timeout)).ok()) return s;
        out->config.health.timeout = timeout;
      }
      if (h.contains("watch_ms") && !h["watch_ms"].is_null()) {
        if (!h["watch_ms"].is_number_integer()) return Status::InvalidArgument("health.watch_ms must be an integer");
        long long ms = h["watch_ms"].get<long long>();
        if (ms < 0 || ms > std::chrono::milliseconds(kMaxWatch).count())
          return Status::InvalidArgument("health watch must be between 0 (off) and 24h");
        out->config.health.watch = std::chrono::milliseconds(ms);
      }
    }
    out->env.clear();
    if (meta.contains("env") && !(s = ParseEnvEntries(meta["env"], "env", &out->env)).ok()) return s;
    if (meta.contains("git_commit") && !meta["git_commit"].is_null()) {
      if (!meta["git_commit"].is_string()) return Status::InvalidArgument("git_commit must be a string");
      std::string commit = meta["git_commit"].get<std::string>();
      if (commit.size() > 64 || commit.find_first_not_of("0123456789abcdef") != std::string::npos)
        return Status::InvalidArgument("git_commit must be a lower-case hex commit id");
      out->git_commit = commit;
    }
    if (meta.contains("git_dirty")) {
      if (!meta["git_dirty"].is_boolean()) return Status::InvalidArgument("git_dirty must be true or false");
      out->git_dirty = meta["git_dirty"].get<bool>();
    }
    if (meta.contains("source_digest") && !meta["source_digest"].is_null()) {
      if (!meta["source_digest"].is_string()) return Status::InvalidArgument("source_digest must be a string");
      const std::string& digest = meta["source_digest"].get_ref<const std::string&>();
      if (!digest.empty() && (digest.size() != 71 || !digest.starts_with("sha256:") ||
                              digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos))
        return Status::InvalidArgument("source_digest must be \"sha256:\" and 64 lower-case hex digits");
      out->source_digest = digest;
    }
    if (meta.contains("build_args")) {
      // Docker build args ([build.args] in bim.toml), e.g. a local BUILDER_IMAGE when no registry is reachable.
      if (!meta["build_args"].is_object()) return Status::InvalidArgument("build_args must be an object of strings");
      out->config.build_args.clear();
      for (const auto& [k, v] : meta["build_args"].items()) {
        if (!v.is_string()) return Status::InvalidArgument("build arg " + k + " must be a string");
        if (!(s = ValidateBuildArg(k, v.get<std::string>())).ok()) return s;
        out->config.build_args[k] = v.get<std::string>();
      }
    }
    if (meta.contains("build_timeout_ms")) {
      if (!meta["build_timeout_ms"].is_number_integer() || meta["build_timeout_ms"].get<long long>() < 1000)
        return Status::InvalidArgument("build_timeout_ms must be an integer of at least 1000");
      out->config.build_timeout = std::chrono::milliseconds(meta["build_timeout_ms"].get<long long>());
    }
    if (meta.contains("resources")) {
      // bim.toml [resources]: what the app asks for; the Deployer checks it against the server's maxima.
      const json& r = meta["resources"];
      if (!r.is_object()) return Status::InvalidArgument("resources must be an object");
      auto field = [&](const char* key, int64_t min, int64_t max, int64_t* into) -> Status {
        if (!r.contains(key)) return Status::OK();
        if (!r[key].is_number_integer() || r[key].get<long long>() < min || r[key].get<long long>() > max)
          return Status::InvalidArgument(std::string("resources.") + key + " must be an integer from " +
                                         std::to_string(min) + " to " + std::to_string(max));
        *into = r[key].get<long long>();
        return Status::OK();
      };
      if (!(s = field("memory_bytes", 6 << 20, int64_t{1} << 50, &out->config.resources.memory_bytes)).ok()) return s;
      if (!(s = field("nano_cpus", 10'000'000, int64_t{1024} * 1'000'000'000, &out->config.resources.nano_cpus)).ok()) return s;
      if (!(s = field("pids", 16, 1 << 22, &out->config.resources.pids)).ok()) return s;
    }
    if (meta.contains("deploy")) {
      // bim.toml's [deploy]: {"replicas": N (absent: keep the app's), "placement": ["constraint", ...]}.
      const json& d = meta["deploy"];
      if (!d.is_object()) return Status::InvalidArgument("deploy must be an object with replicas and placement");
      if (d.contains("replicas")) {
        if (!d["replicas"].is_number_integer()) return Status::InvalidArgument("deploy.replicas must be a whole number");
        if (!(s = ValidateReplicas(static_cast<long>(d["replicas"].get<long long>()))).ok()) return s;
        out->config.deploy.replicas = d["replicas"].get<int>();
      }
      if (d.contains("placement")) {
        if (!d["placement"].is_array()) return Status::InvalidArgument("deploy.placement must be a list of strings");
        std::vector<std::string> placement;
        for (const json& c : d["placement"]) {
          if (!c.is_string()) return Status::InvalidArgument("deploy.placement entries must be strings");
          placement.push_back(c.get<std::string>());
        }
        if (!(s = ValidatePlacement(&placement)).ok()) return s;
        out->config.deploy.placement = std::move(placement);
      }
    }
    if (meta.contains("http")) {
      // bim.toml [http]: redirects and HSTS on the app's custom domains once they have a certificate.
      const json& h = meta["http"];
      if (!h.is_object()) return Status::InvalidArgument("http must be an object");
      for (const char* key : {"force_https", "hsts"})
        if (h.contains(key) && !h[key].is_boolean()) return Status::InvalidArgument(std::string("http.") + key + " must be true or false");
      out->config.http.force_https = h.value("force_https", true);
      out->config.http.hsts = h.value("hsts", false);
    }
    if (!(s = ParseComposeMeta(meta, out)).ok()) return s;
    out->wait = meta.value("wait", true);
    if (meta.contains("wait_watch")) {
      if (!meta["wait_watch"].is_boolean()) return Status::InvalidArgument("wait_watch must be true or false");
      out->wait_watch = meta["wait_watch"].get<bool>();
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("deploy meta: ") + e.what());
  }
  return Status::OK();
}

Status ParseEnvEntries(const json& list, const std::string& field, EnvList* out) {
  if (!list.is_array()) return Status::InvalidArgument("\"" + field + "\" must be a list of {key, value}");
  for (const json& var : list) {
    if (!var.is_object() || !var.contains("key") || !var.contains("value") || !var["key"].is_string() ||
        !var["value"].is_string())
      return Status::InvalidArgument("\"" + field + "\" entries must be {\"key\": string, \"value\": string}");
    const std::string& key = var["key"].get_ref<const std::string&>();
    if (Status s = ValidateEnvKey(key); !s.ok()) return s;
    const std::string& value = var["value"].get_ref<const std::string&>();
    if (value.find('\0') != std::string::npos)
      return Status::InvalidArgument("env value of " + key + " contains a NUL byte");
    SetEnv(out, key, value);
  }
  return Status::OK();
}

int64_t DeployBodyLimit(const ServerOptions& options) {
  return options.max_upload_bytes + static_cast<int64_t>(kMaxMetaBytes) + (64 << 10);
}

std::string UploadTooLargeMessage(const ServerOptions& options) {
  return "build context is larger than " + std::to_string(options.max_upload_bytes) +
         " bytes (add large files to .dockerignore)";
}

Status ReadDeployUpload(const ServerOptions& options, const std::string& path_app, const HttpRequest& req,
                        DeployRequest* out, DeployUpload* upload) {
  *upload = DeployUpload();
  if (Status s = ValidateAppName(path_app); !s.ok()) return s;
  std::string boundary;
  if (!MultipartBoundary(req.Header("Content-Type"), &boundary).ok())
    return Status::InvalidArgument("deploy body must be multipart/form-data with a \"meta\" part");
  // The HTTP layer already refused a Content-Length over DeployBodyLimit before reading.
  std::string dir = options.data_dir + "/uploads";
  if (Status s = MakeDirs(dir, 0700); !s.ok()) return s;
  std::string path = dir + "/" + path_app + "-" + RandomHex(8) + ".tar";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot create " + path);

  // The one file part: "context" (a whole build-context tar), "contents" (the file contents bimd
  // lacks, see ContextStore) or "image" (a docker save archive).
  std::string meta, part, file_part;
  int64_t file_bytes = 0;
  Status failure;
  MultipartReader multipart(
      boundary,
      [&](const MultipartPart& header) {
        part = header.name;
        if (part == "context" || part == "contents" || part == "image") {
          if (!file_part.empty()) {
            failure = Status::InvalidArgument("deploy body may hold one of the \"context\", \"contents\" and "
                                              "\"image\" parts");
            return false;
          }
          file_part = part;
        }
        return true;
      },
      [&](std::string_view data) {
        if (part == "meta") {
          if (meta.size() + data.size() > kMaxMetaBytes) {
            failure = Status::TooLarge("deploy meta is larger than 1 MiB");
            return false;
          }
          meta.append(data);
        } else if (!file_part.empty() && part == file_part) {
          if (file_bytes > 0) Failpoint("upload");
          file_bytes += static_cast<int64_t>(data.size());
          if (file_bytes > options.max_upload_bytes) {
            failure = Status::TooLarge(UploadTooLargeMessage(options));
            return false;
          }
          for (size_t off = 0; off < data.size();) {
            ssize_t n = write(fd, data.data() + off, data.size() - off);
            if (n <= 0) {
              failure = Status::Internal("cannot write the upload to " + path);
              return false;
            }
            off += static_cast<size_t>(n);
          }
        }
        return true;
      });
  Status parsed;
  Status read = req.ReadBody([&](std::string_view piece) {
    parsed = multipart.Feed(piece);
    return parsed.ok();
  });
  if (read.ok() && parsed.ok()) parsed = multipart.Finish();
  close(fd);
  auto fail = [&](const Status& s) {
    unlink(path.c_str());
    return s;
  };
  if (!failure.ok()) return fail(failure);
  if (!read.ok()) return fail(read);
  if (!parsed.ok()) return fail(Status::InvalidArgument("the upload was cut off or malformed (" + parsed.message() + "); try again"));
  if (Status s = ParseDeployMeta(meta, path_app, out); !s.ok()) return fail(s);
  out->actor = "admin";
  upload->meta = std::move(meta);
  upload->part = file_part;
  if (file_part.empty()) {
    unlink(path.c_str());
    return Status::OK();
  }
  if (file_part != "context") {
    upload->path = path;
    return Status::OK();
  }
  // A Compose app's services name their own Dockerfiles (checked when each is built).
  if (Status s = CheckBuildContext(path, options.context_limits, out->compose.text.empty() ? "Dockerfile" : "");
      !s.ok())
    return fail(s);
  out->context_path = path;
  return Status::OK();
}

}  // namespace bim
