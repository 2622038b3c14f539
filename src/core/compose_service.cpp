// One service of a Compose file: a function per key bim deploys; every other key is refused by name.
#include <algorithm>
#include <cmath>

#include "core/app_config.h"
#include "core/compose_walker.h"
#include "core/validate.h"

namespace bim::compose_internal {

Status Walker::Build(const YAML::Node& node, const std::string& path, ComposeService* svc) const {
  svc->has_build = true;
  std::string context = ".";
  if (node.IsScalar()) {
    if (Status s = String(node, path, &context); !s.ok()) return s;
  } else {
    Entries entries;
    if (Status s = Map(node, path, &entries); !s.ok()) return s;
    for (const auto& [key, value] : entries) {
      std::string at = path + "." + key;
      if (key == "context") {
        if (Status s = String(value, at, &context); !s.ok()) return s;
      } else if (key == "dockerfile") {
        if (Status s = String(value, at, &svc->build.dockerfile); !s.ok()) return s;
        std::string inside = InsidePath(svc->build.dockerfile);
        if (inside.empty() || inside == ".")
          return Error(value, at, "must be a file path inside the build context (like Dockerfile.worker)");
        svc->build.dockerfile = inside;
      } else if (key == "args") {
        EnvList args;
        if (Status s = Environment(value, at, &args); !s.ok()) return s;
        for (const auto& a : args) svc->build.args[a.key] = a.value;
      } else if (!key.starts_with("x-")) {
        return Unsupported(value, at);
      }
    }
  }
  if (context.find("://") != std::string::npos || context.starts_with("git@"))
    return Error(node, path, "names a remote context; bim builds from the uploaded folder (use a path like ./web)");
  svc->build.context = InsidePath(context);
  if (svc->build.context.empty())
    return Error(node, path, "context \"" + context.substr(0, 80) + "\" leaves the app folder (use a path inside it)");
  return Status::OK();
}

// `environment` (and build `args`): a mapping KEY: value, or a list of "KEY=value". A key without a
// value takes the variable's value, and is left out if the variable is unset (as Compose does).
Status Walker::Environment(const YAML::Node& node, const std::string& path, EnvList* env) const {
  auto add = [&](const YAML::Node& at, const std::string& key, const std::string* raw) -> Status {
    if (Status s = ValidateEnvKey(key); !s.ok()) return Error(at, path, s.message());
    if (raw == nullptr) {
      for (const auto& v : in_.variables)
        if (v.key == key) SetEnv(env, key, v.value);
      return Status::OK();
    }
    std::string value;
    if (Status s = Interp(at, path + "." + key, *raw, &value); !s.ok()) return s;
    SetEnv(env, key, value);
    return Status::OK();
  };
  if (node.IsSequence()) {
    for (const auto& item : node) {
      if (!item.IsScalar()) return Error(item, path, "entries must be KEY=value strings");
      const std::string& text = item.Scalar();
      size_t eq = text.find('=');
      std::string value = eq == std::string::npos ? "" : text.substr(eq + 1);
      if (Status s = add(item, text.substr(0, eq), eq == std::string::npos ? nullptr : &value); !s.ok()) return s;
    }
    return Status::OK();
  }
  Entries entries;
  if (Status s = Map(node, path, &entries); !s.ok()) return Error(node, path, "must be a mapping or a list of KEY=value");
  for (const auto& [key, value] : entries) {
    if (value.IsNull()) {
      if (Status s = add(value, key, nullptr); !s.ok()) return s;
    } else if (value.IsScalar()) {
      if (Status s = add(value, key, &value.Scalar()); !s.ok()) return s;
    } else {
      return Error(value, path + "." + key, "must be a single value");
    }
  }
  return Status::OK();
}

Status Walker::EnvFiles(const YAML::Node& node, const std::string& path, EnvList* env) const {
  std::vector<std::pair<std::string, bool>> files;  // path, required
  if (node.IsScalar()) {
    files.emplace_back(node.Scalar(), true);
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      if (item.IsScalar()) {
        files.emplace_back(item.Scalar(), true);
        continue;
      }
      Entries entries;
      if (Status s = Map(item, path, &entries); !s.ok()) return s;
      std::string file;
      bool required = true;
      for (const auto& [key, value] : entries) {
        if (key == "path") {
          if (Status s = String(value, path + ".path", &file); !s.ok()) return s;
        } else if (key == "required") {
          if (Status s = Bool(value, path + ".required", &required); !s.ok()) return s;
        } else {
          return Unsupported(value, path + "." + key);
        }
      }
      if (file.empty()) return Error(item, path, "entries need a path");
      files.emplace_back(file, required);
    }
  } else {
    return Error(node, path, "must be a file name or a list of them");
  }
  for (const auto& [file, required] : files) {
    if (InsidePath(file).empty()) return Error(node, path, "\"" + file.substr(0, 80) + "\" must be a path inside the app folder");
    auto it = in_.env_files.find(file);
    if (it == in_.env_files.end()) {
      if (!required) continue;
      return Error(node, path, "names " + file.substr(0, 80) + ", which is not in the app folder (create it, or write "
                                                               "{path: " + file.substr(0, 80) + ", required: false})");
    }
    EnvList vars;
    if (Status s = ParseDotenv(it->second, &vars); !s.ok()) return Error(node, path, file + ": " + s.message());
    for (const auto& v : vars) SetEnv(env, v.key, v.value);
  }
  return Status::OK();
}

Status Walker::Volume(const YAML::Node& node, const std::string& path, ComposeVolume* out) const {
  const std::string named = " (bim keeps data in named volumes: write NAME:/path and declare NAME under the "
                            "top-level volumes)";
  if (node.IsScalar()) {
    std::string text;
    if (Status s = String(node, path, &text); !s.ok()) return s;
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t colon = text.find(':', start);
      parts.push_back(text.substr(start, colon == std::string::npos ? colon : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    if (parts.size() == 1) return Error(node, path, "\"" + text.substr(0, 80) + "\" is an anonymous volume, whose data a deploy would lose" + named);
    if (parts.size() > 3) return Error(node, path, "\"" + text.substr(0, 80) + "\" is not SOURCE:TARGET[:ro]");
    const std::string& source = parts[0];
    if (source.starts_with(".") || source.starts_with("/") || source.starts_with("~"))
      return Error(node, path, "\"" + text.substr(0, 80) + "\" is a bind mount of a folder, which bimd's host does not have" + named);
    out->source = source;
    out->target = parts[1];
    if (parts.size() == 3) {
      if (parts[2] == "ro") out->read_only = true;
      else if (parts[2] != "rw") return Error(node, path, "mode \"" + parts[2].substr(0, 20) + "\" is not supported by bim (use ro or rw)");
    }
  } else {
    Entries entries;
    if (Status s = Map(node, path, &entries); !s.ok()) return s;
    std::string type = "volume";
    for (const auto& [key, value] : entries) {
      std::string at = path + "." + key;
      if (key == "type") {
        if (Status s = String(value, at, &type); !s.ok()) return s;
      } else if (key == "source") {
        if (Status s = String(value, at, &out->source); !s.ok()) return s;
      } else if (key == "target") {
        if (Status s = String(value, at, &out->target); !s.ok()) return s;
      } else if (key == "read_only") {
        if (Status s = Bool(value, at, &out->read_only); !s.ok()) return s;
      } else {
        return Unsupported(value, at);
      }
    }
    if (type != "volume") return Error(node, path + ".type", type.substr(0, 20) + " is not supported by bim" + named);
    if (out->source.empty()) return Error(node, path, "has no source: an anonymous volume loses its data on every deploy" + named);
  }
  if (Status s = ValidateVolumeName(out->source); !s.ok()) return Error(node, path, s.message());
  if (out->target.empty() || out->target[0] != '/' || out->target.find_first_of(":\n\r\t") != std::string::npos ||
      out->target.size() > 1024)
    return Error(node, path, "target must be an absolute path in the container (like /var/lib/data)");
  return Status::OK();
}

// One entry of `ports` or `expose`: the container port (a published host port means nothing on the
// server, where bimd publishes HTTP services on loopback itself and nothing else).
Status Walker::Port(const YAML::Node& node, const std::string& path, bool expose, int* port) const {
  std::string text;
  if (node.IsMap() && !expose) {
    Entries entries;
    if (Status s = Map(node, path, &entries); !s.ok()) return s;
    for (const auto& [key, value] : entries) {
      std::string at = path + "." + key;
      if (key == "target") {
        if (Status s = String(value, at, &text); !s.ok()) return s;
      } else if (key == "protocol") {
        std::string proto;
        if (Status s = String(value, at, &proto); !s.ok()) return s;
        if (proto != "tcp") return Error(value, at, "must be tcp: bim routes HTTP to services");
      } else if (key != "published" && key != "host_ip" && key != "mode" && key != "name" && key != "app_protocol") {
        return Unsupported(value, at);
      }
    }
    if (text.empty()) return Error(node, path, "needs a target (the container's port)");
  } else if (Status s = String(node, path, &text); !s.ok()) {
    return s;
  }
  std::string spec = text;
  if (size_t slash = spec.find('/'); slash != std::string::npos) {
    if (spec.substr(slash + 1) != "tcp")
      return Error(node, path, "\"" + text.substr(0, 40) + "\" is not a tcp port: bim routes HTTP to services");
    spec.resize(slash);
  }
  if (size_t colon = spec.rfind(':'); colon != std::string::npos) spec = spec.substr(colon + 1);
  if (spec.find('-') != std::string::npos)
    return Error(node, path, "\"" + text.substr(0, 40) + "\" is a port range, which bim does not route (list the one HTTP port)");
  bool digits = !spec.empty() && spec.size() <= 5 && spec.find_first_not_of("0123456789") == std::string::npos;
  long value = digits ? std::atol(spec.c_str()) : 0;
  if (value < 1 || value > 65535) return Error(node, path, "\"" + text.substr(0, 40) + "\" is not a port 1-65535");
  *port = static_cast<int>(value);
  return Status::OK();
}

Status Walker::DependsOn(const YAML::Node& node, const std::string& path, std::vector<ComposeDependency>* out) const {
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      ComposeDependency d;
      if (Status s = String(node[i], path + "[" + std::to_string(i) + "]", &d.service); !s.ok()) return s;
      out->push_back(d);
    }
    return Status::OK();
  }
  Entries entries;
  if (Status s = Map(node, path, &entries); !s.ok()) return Error(node, path, "must be a list of services or a mapping");
  for (const auto& [name, value] : entries) {
    ComposeDependency d{name, false};
    Entries options;
    if (!value.IsNull())
      if (Status s = Map(value, path + "." + name, &options); !s.ok()) return s;
    for (const auto& [key, v] : options) {
      std::string at = path + "." + name + "." + key;
      if (key == "condition") {
        std::string condition;
        if (Status s = String(v, at, &condition); !s.ok()) return s;
        if (condition == "service_healthy") d.healthy = true;
        else if (condition != "service_started")
          return Error(v, at, "\"" + condition.substr(0, 40) + "\" is not supported by bim (use service_started or service_healthy)" + kSupportTable);
      } else if (key == "required") {
        bool required = true;
        if (Status s = Bool(v, at, &required); !s.ok()) return s;
        if (!required) return Error(v, at, "false is not supported by bim (every dependency must exist)");
      } else {
        return Unsupported(v, at);
      }
    }
    out->push_back(d);
  }
  return Status::OK();
}

Status Walker::Healthcheck(const YAML::Node& node, const std::string& path, ComposeHealthcheck* out) const {
  Entries entries;
  if (Status s = Map(node, path, &entries); !s.ok()) return s;
  bool disable = false;
  for (const auto& [key, value] : entries) {
    std::string at = path + "." + key;
    Status s;
    if (key == "test") {
      if (value.IsScalar()) {
        std::string text;
        if (!(s = String(value, at, &text)).ok()) return s;
        out->test = {"CMD-SHELL", text};
      } else {
        if (!(s = StringOrList(value, at, &out->test)).ok()) return s;
        if (out->test.empty() || (out->test[0] != "CMD" && out->test[0] != "CMD-SHELL" && out->test[0] != "NONE"))
          return Error(value, at, "must start with CMD, CMD-SHELL or NONE");
      }
    } else if (key == "interval") {
      s = Duration(value, at, &out->interval);
    } else if (key == "timeout") {
      s = Duration(value, at, &out->timeout);
    } else if (key == "start_period") {
      s = Duration(value, at, &out->start_period);
    } else if (key == "retries") {
      long n = 0;
      s = Int(value, at, 0, 1000, &n);
      out->retries = static_cast<int>(n);
    } else if (key == "disable") {
      s = Bool(value, at, &disable);
    } else {
      return Unsupported(value, at);
    }
    if (!s.ok()) return s;
  }
  if (disable) out->test = {"NONE"};
  if (out->test.empty()) return Error(node, path, "needs a test (or disable: true)");
  return Status::OK();
}

Status Walker::Deploy(const YAML::Node& node, const std::string& path, ComposeService* svc) const {
  Entries entries;
  if (Status s = Map(node, path, &entries); !s.ok()) return s;
  for (const auto& [key, value] : entries) {
    std::string at = path + "." + key;
    if (key == "replicas") {
      long n = 0;
      if (Status s = Int(value, at, 1, 100, &n); !s.ok()) return s;
      svc->replicas = static_cast<int>(n);
    } else if (key == "resources") {
      Entries resources;
      if (Status s = Map(value, at, &resources); !s.ok()) return s;
      for (const auto& [rkey, rvalue] : resources) {
        if (rkey != "limits") return Unsupported(rvalue, at + "." + rkey);
        Entries limits;
        if (Status s = Map(rvalue, at + ".limits", &limits); !s.ok()) return s;
        for (const auto& [lkey, lvalue] : limits) {
          std::string lat = at + ".limits." + lkey;
          std::string text;
          if (lkey == "cpus") {
            if (Status s = String(lvalue, lat, &text); !s.ok()) return s;
            char* end = nullptr;
            double cpus = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !(cpus > 0) || cpus > 1024)
              return Error(lvalue, lat, "must be a number of CPUs like 0.5 or 2");
            svc->nano_cpus = static_cast<int64_t>(std::llround(cpus * 1e9));
          } else if (lkey == "memory") {
            if (Status s = String(lvalue, lat, &text); !s.ok()) return s;
            if (Status s = ParseComposeBytes(text, &svc->memory_bytes); !s.ok()) return Error(lvalue, lat, s.message());
          } else if (lkey == "pids") {
            long n = 0;
            if (Status s = Int(lvalue, lat, 1, 4194304, &n); !s.ok()) return s;
            svc->pids = n;
          } else {
            return Unsupported(lvalue, lat);
          }
        }
      }
    } else if (key == "update_config") {
      Entries update;
      if (Status s = Map(value, at, &update); !s.ok()) return s;
      for (const auto& [ukey, uvalue] : update) {
        if (ukey != "order") return Unsupported(uvalue, at + "." + ukey);
        if (Status s = String(uvalue, at + ".order", &svc->update_order); !s.ok()) return s;
        if (svc->update_order != "start-first" && svc->update_order != "stop-first")
          return Error(uvalue, at + ".order", "must be start-first or stop-first");
      }
    } else {
      return Unsupported(value, at);
    }
  }
  return Status::OK();
}

Status Walker::Service(const std::string& name, const YAML::Node& node, ComposeService* svc) const {
  const std::string base = "services." + name;
  if (Status s = ValidateServiceName(name); !s.ok()) return Error(node, base, s.message());
  svc->name = name;
  Entries entries;
  if (Status s = Map(node, base, &entries); !s.ok()) return s;
  EnvList from_files, from_environment;
  for (const auto& [key, value] : entries) {
    const std::string at = base + "." + key;
    Status s;
    if (key.starts_with("x-")) continue;  // extension fields: Compose ignores them too
    if (key == "build") {
      s = Build(value, at, svc);
    } else if (key == "image") {
      s = String(value, at, &svc->image);
      if (s.ok() && (svc->image.empty() || svc->image.size() > 255 ||
                     svc->image.find_first_of(" \t\r\n\"'$;`\\") != std::string::npos))
        s = Error(value, at, "is not an image reference (like postgres:16 or registry.example.com/team/api:1.2)");
    } else if (key == "command" || key == "entrypoint") {
      std::vector<std::string>* words = key == "command" ? &svc->command : &svc->entrypoint;
      if (value.IsNull()) continue;
      if (value.IsScalar()) {
        std::string text;
        if ((s = String(value, at, &text)).ok() && !(s = SplitCommand(text, words)).ok()) s = Error(value, at, s.message());
      } else {
        s = StringOrList(value, at, words);
      }
    } else if (key == "environment") {
      s = Environment(value, at, &from_environment);
    } else if (key == "env_file") {
      s = EnvFiles(value, at, &from_files);
    } else if (key == "volumes") {
      if (!value.IsSequence()) return Error(value, at, "must be a list");
      for (size_t i = 0; i < value.size() && s.ok(); ++i)
        s = Volume(value[i], at + "[" + std::to_string(i) + "]", &svc->volumes.emplace_back());
    } else if (key == "depends_on") {
      s = DependsOn(value, at, &svc->depends_on);
    } else if (key == "healthcheck") {
      svc->has_healthcheck = true;
      s = Healthcheck(value, at, &svc->healthcheck);
    } else if (key == "restart") {
      if ((s = String(value, at, &svc->restart)).ok() && svc->restart != "no" && svc->restart != "always" &&
          svc->restart != "on-failure" && svc->restart != "unless-stopped")
        s = Error(value, at, "must be no, always, on-failure or unless-stopped");
    } else if (key == "ports" || key == "expose") {
      if (!value.IsSequence()) return Error(value, at, "must be a list");
      for (size_t i = 0; i < value.size() && s.ok(); ++i) {
        int port = 0;
        s = Port(value[i], at + "[" + std::to_string(i) + "]", key == "expose", &port);
        if (s.ok() && std::find(svc->ports.begin(), svc->ports.end(), port) == svc->ports.end()) svc->ports.push_back(port);
      }
    } else if (key == "deploy") {
      s = Deploy(value, at, svc);
    } else if (key == "profiles") {
      s = StringOrList(value, at, &svc->profiles);
      for (const auto& p : svc->profiles)
        if (Status bad = ValidateProfileName(p); s.ok() && !bad.ok()) s = Error(value, at, bad.message());
    } else if (key == "stop_grace_period") {
      std::chrono::milliseconds grace{0};
      if ((s = Duration(value, at, &grace)).ok()) svc->stop_grace_seconds = static_cast<int>((grace.count() + 999) / 1000);
    } else {
      return Unsupported(value, at);
    }
    if (!s.ok()) return s;
  }
  svc->environment = from_files;
  for (const auto& v : from_environment) SetEnv(&svc->environment, v.key, v.value);
  if (!svc->has_build && svc->image.empty()) return Error(node, base, "needs build (a folder with a Dockerfile) or image");
  return Status::OK();
}

}  // namespace bim::compose_internal
