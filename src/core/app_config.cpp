#include "core/app_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include "core/validate.h"

namespace bim {

namespace {

Status Invalid(const std::string& msg) { return Status::InvalidArgument("bim.toml: " + msg); }

// What the user wrote, for "(got ...)": scalars as TOML spells them, containers by kind.
std::string Got(const toml::node& node) {
  if (node.is_table()) return "a table";
  if (node.is_array()) return "an array";
  std::string s;
  if (const auto* str = node.as_string()) {
    // Quoted the way the message reads best; control bytes shown as '?' to keep it on one line.
    s = "\"";
    for (char c : str->get().substr(0, 60)) {
      if (c == '"' || c == '\\') s += '\\';
      s += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
    if (str->get().size() > 60) s += "...";
    return s + "\"";
  }
  std::ostringstream os;
  node.visit([&os](const auto& v) { os << v; });
  s = os.str();
  if (s.size() > 60) s = s.substr(0, 60) + "...";
  return s;
}

Status UnknownKey(const std::string& key, const toml::node& node, const char* known) {
  return Invalid("unknown key \"" + key + "\" on line " + std::to_string(node.source().begin.line) +
                 " (known keys: " + known + ")");
}

Status ParseHealth(const toml::node& node, HealthCheck* health) {
  const toml::table* tbl = node.as_table();
  if (tbl == nullptr)
    return Invalid("health must be a table (write [health] with path, timeout and watch under it)");
  for (auto&& [k, v] : *tbl) {
    const std::string key(k.str());
    if (key == "path") {
      if (!v.is_string()) return Invalid("health.path must be a string like \"/healthz\" (got " + Got(v) + ")");
      std::string path = *v.value<std::string>();
      Status s = ValidateHealthPath(path);
      if (!s.ok()) return Invalid(s.message());
      health->path = std::move(path);
    } else if (key == "timeout") {
      if (!v.is_string())
        return Invalid("health.timeout must be a duration string like \"30s\" (got " + Got(v) + ")");
      std::chrono::milliseconds d;
      Status s = ParseDuration(*v.value<std::string>(), &d);
      if (!s.ok()) return Invalid("health.timeout: " + s.message());
      if (!(s = ValidateHealthTimeout(d)).ok()) return Invalid(s.message());
      health->timeout = d;
    } else if (key == "watch") {
      if (!v.is_string())
        return Invalid("health.watch must be a duration string like \"60s\", or \"0\" to turn it off (got " +
                       Got(v) + ")");
      std::string text = *v.value<std::string>();
      std::chrono::milliseconds d{0};
      if (text != "0") {
        Status s = ParseDuration(text, &d);
        if (!s.ok()) return Invalid("health.watch: " + s.message() + ", or \"0\" to turn it off");
      }
      if (d > kMaxWatch) return Invalid("health.watch must be at most 24h (got " + Got(v) + ")");
      health->watch = d;
    } else {
      return UnknownKey("health." + key, v, "path, timeout, watch");
    }
  }
  return Status::OK();
}

// [build]: timeout = "10m" (within the server's --build-timeout) and [build.args], KEY = "value" pairs
// for the Dockerfile's ARGs.
Status ParseBuild(const toml::node& node, AppConfig* cfg) {
  const toml::table* tbl = node.as_table();
  if (tbl == nullptr) return Invalid("build must be a table (write [build.args] with KEY = \"value\" under it)");
  for (auto&& [k, v] : *tbl) {
    const std::string key(k.str());
    if (key == "timeout") {
      if (!v.is_string()) return Invalid("build.timeout must be a duration like \"10m\" (got " + Got(v) + ")");
      Status s = ParseDuration(*v.value<std::string>(), &cfg->build_timeout);
      if (!s.ok()) return Invalid("build.timeout: " + s.message());
      continue;
    }
    if (key != "args") return UnknownKey("build." + key, v, "timeout, [build.args]");
    const toml::table* arg_tbl = v.as_table();
    if (arg_tbl == nullptr) return Invalid("build.args must be a table of KEY = \"value\" (got " + Got(v) + ")");
    for (auto&& [ak, av] : *arg_tbl) {
      const std::string name(ak.str());
      Status s = ValidateBuildArg(name, av.is_string() ? *av.value<std::string>() : std::string());
      if (!av.is_string()) s = Status::InvalidArgument("must be a string (got " + Got(av) + ")");
      if (!s.ok()) return Invalid("build.args." + name + ": " + s.message());
      cfg->build_args[name] = *av.value<std::string>();
    }
  }
  return Status::OK();
}

// [resources]: memory = "512m", cpus = 0.5, pids = 256 for the app's containers (the server caps
// them; absent keys take the server's defaults).
Status ParseResources(const toml::node& node, ResourceRequest* out) {
  const toml::table* tbl = node.as_table();
  if (tbl == nullptr) return Invalid("resources must be a table (write [resources] with memory, cpus, pids under it)");
  for (auto&& [k, v] : *tbl) {
    const std::string key(k.str());
    if (key == "memory") {
      if (!v.is_string()) return Invalid("resources.memory must be a size like \"512m\" (got " + Got(v) + ")");
      Status s = ParseByteSize(*v.value<std::string>(), &out->memory_bytes);
      if (!s.ok()) return Invalid("resources.memory: " + s.message());
      if (out->memory_bytes < (int64_t{6} << 20)) return Invalid("resources.memory must be at least 6m (Docker's minimum)");
    } else if (key == "cpus") {
      std::optional<double> cpus = v.value<double>();
      if (!cpus || !(*cpus >= 0.01 && *cpus <= 1024))
        return Invalid("resources.cpus must be a number of CPUs from 0.01 to 1024, like 0.5 (got " + Got(v) + ")");
      out->nano_cpus = static_cast<int64_t>(*cpus * 1e9 + 0.5);
    } else if (key == "pids") {
      const auto* pids = v.as_integer();
      if (pids == nullptr || pids->get() < 16 || pids->get() > 1 << 22)
        return Invalid("resources.pids must be a whole number of processes from 16 to 4194304 (got " + Got(v) + ")");
      out->pids = pids->get();
    } else {
      return UnknownKey("resources." + key, v, "memory, cpus, pids");
    }
  }
  return Status::OK();
}

// [deploy]: replicas = N and placement = ["constraint", ...] (see placement.h).
Status ParseDeploy(const toml::node& node, DeploySettings* deploy) {
  const toml::table* tbl = node.as_table();
  if (tbl == nullptr) return Invalid("deploy must be a table (write [deploy] with replicas and placement under it)");
  for (auto&& [k, v] : *tbl) {
    const std::string key(k.str());
    if (key == "replicas") {
      const auto* n = v.as_integer();
      if (n == nullptr) return Invalid("deploy.replicas must be an integer (got " + Got(v) + ")");
      if (Status s = ValidateReplicas(static_cast<long>(n->get())); !s.ok()) return Invalid("deploy." + s.message());
      deploy->replicas = static_cast<int>(n->get());
    } else if (key == "placement") {
      const toml::array* list = v.as_array();
      if (list == nullptr)
        return Invalid("deploy.placement must be a list of strings like [\"node.labels.zone==eu\"] (got " + Got(v) + ")");
      std::vector<std::string> constraints;
      for (const toml::node& item : *list) {
        if (!item.is_string())
          return Invalid("deploy.placement entries must be strings like \"node.role!=manager\" (got " + Got(item) + ")");
        constraints.push_back(*item.value<std::string>());
      }
      if (Status s = ValidatePlacement(&constraints); !s.ok()) return Invalid("deploy." + s.message());
      deploy->placement = std::move(constraints);
    } else {
      return UnknownKey("deploy." + key, v, "replicas, placement");
    }
  }
  return Status::OK();
}

// [http]: force_https = true/false, hsts = true/false.
Status ParseHttp(const toml::node& node, HttpConfig* out) {
  const toml::table* tbl = node.as_table();
  if (tbl == nullptr) return Invalid("http must be a table (write [http] with force_https, hsts under it)");
  for (auto&& [k, v] : *tbl) {
    const std::string key(k.str());
    bool* into = key == "force_https" ? &out->force_https : key == "hsts" ? &out->hsts : nullptr;
    if (into == nullptr) return UnknownKey("http." + key, v, "force_https, hsts");
    if (!v.is_boolean()) return Invalid("http." + key + " must be true or false (got " + Got(v) + ")");
    *into = *v.value<bool>();
  }
  return Status::OK();
}

// [routes.NAME] tables: another route into a Compose app each.
Status ParseRoutes(const toml::node& node, std::vector<RouteConfig>* routes) {
  const toml::table* tbl = node.as_table();
  if (tbl == nullptr) return Invalid("routes must be a table (write [routes.admin] with service and port under it)");
  routes->clear();
  for (auto&& [k, v] : *tbl) {
    RouteConfig route;
    route.name = std::string(k.str());
    const toml::table* fields = v.as_table();
    if (fields == nullptr) return Invalid("routes." + route.name + " must be a table (write [routes." + route.name + "])");
    for (auto&& [fk, fv] : *fields) {
      const std::string key(fk.str());
      const std::string at = "routes." + route.name + "." + key;
      if (key == "service") {
        if (!fv.is_string()) return Invalid(at + " must be a service name (got " + Got(fv) + ")");
        route.service = *fv.value<std::string>();
      } else if (key == "port") {
        const auto* port = fv.as_integer();
        if (port == nullptr || port->get() < 1 || port->get() > 65535)
          return Invalid(at + " must be an integer 1-65535 (got " + Got(fv) + ")");
        route.port = static_cast<int>(port->get());
      } else if (key == "health") {
        if (!fv.is_string()) return Invalid(at + " must be a path like \"/healthz\" (got " + Got(fv) + ")");
        route.health_path = *fv.value<std::string>();
      } else if (key == "domains") {
        const toml::array* list = fv.as_array();
        if (list == nullptr) return Invalid(at + " must be a list of host names (got " + Got(fv) + ")");
        for (auto&& d : *list) {
          if (!d.is_string()) return Invalid(at + " must be a list of host names (got " + Got(d) + ")");
          route.domains.push_back(*d.value<std::string>());
        }
      } else {
        return UnknownKey(at, fv, "service, port, health, domains");
      }
    }
    if (Status s = ValidateRouteConfig(route); !s.ok()) return Invalid(s.message());
    routes->push_back(std::move(route));
  }
  std::sort(routes->begin(), routes->end(), [](const RouteConfig& a, const RouteConfig& b) { return a.name < b.name; });
  return Status::OK();
}

Status ParseTable(const toml::table& tbl, AppConfig* cfg) {
  for (auto&& [k, v] : tbl) {
    const std::string key(k.str());
    if (key == "app") {
      if (!v.is_string()) return Invalid("app must be a string like \"hello\" (got " + Got(v) + ")");
      std::string name = *v.value<std::string>();
      Status s = ValidateAppName(name);
      if (!s.ok()) return Invalid(s.message());
      cfg->app = std::move(name);
    } else if (key == "port") {
      const auto* port = v.as_integer();
      if (port == nullptr || port->get() < 1 || port->get() > 65535)
        return Invalid("port must be an integer 1-65535 (got " + Got(v) + ")");
      cfg->port = static_cast<int>(port->get());
      cfg->port_set = true;
    } else if (key == "service") {
      if (!v.is_string()) return Invalid("service must be a Compose service name like \"web\" (got " + Got(v) + ")");
      cfg->service = *v.value<std::string>();
      if (Status s = ValidateServiceName(cfg->service); !s.ok()) return Invalid(s.message());
    } else if (key == "profiles") {
      const toml::array* list = v.as_array();
      if (list == nullptr) return Invalid("profiles must be a list like [\"jobs\"] (got " + Got(v) + ")");
      cfg->profiles.clear();
      for (auto&& p : *list) {
        if (!p.is_string()) return Invalid("profiles must be a list of names (got " + Got(p) + ")");
        cfg->profiles.push_back(*p.value<std::string>());
        if (Status s = ValidateProfileName(cfg->profiles.back()); !s.ok()) return Invalid(s.message());
      }
    } else if (key == "routes") {
      Status s = ParseRoutes(v, &cfg->routes);
      if (!s.ok()) return s;
    } else if (key == "health") {
      Status s = ParseHealth(v, &cfg->health);
      if (!s.ok()) return s;
    } else if (key == "build") {
      Status s = ParseBuild(v, cfg);
      if (!s.ok()) return s;
    } else if (key == "resources") {
      Status s = ParseResources(v, &cfg->resources);
      if (!s.ok()) return s;
    } else if (key == "deploy") {
      Status s = ParseDeploy(v, &cfg->deploy);
      if (!s.ok()) return s;
    } else if (key == "http") {
      Status s = ParseHttp(v, &cfg->http);
      if (!s.ok()) return s;
    } else {
      return UnknownKey(key, v, "app, port, service, profiles, [health], [build], [resources], [deploy], [http], [routes.NAME]");
    }
  }
  return Status::OK();
}

}  // namespace

Status ValidateRouteConfig(const RouteConfig& route) {
  const std::string at = "routes." + route.name;
  if (Status s = ValidateServiceName(route.name); !s.ok())
    return Status::InvalidArgument(at + ": the route's name is its host name's first label: " + s.message());
  if (!route.service.empty())
    if (Status s = ValidateServiceName(route.service); !s.ok()) return Status::InvalidArgument(at + ".service: " + s.message());
  if (route.port != 0)
    if (Status s = ValidatePort(route.port); !s.ok()) return Status::InvalidArgument(at + ".port: " + s.message());
  if (Status s = ValidateHealthPath(route.health_path); !s.ok()) return Status::InvalidArgument(at + ".health: " + s.message());
  if (route.domains.size() > 100) return Status::InvalidArgument(at + ".domains: at most 100 host names per route");
  for (const auto& d : route.domains)
    if (Status s = ValidateDomain(d); !s.ok()) return Status::InvalidArgument(at + ".domains: " + s.message());
  return Status::OK();
}

Status ValidateProfileName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 &&
            name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == std::string_view::npos;
  if (ok) return Status::OK();
  std::string shown(name.substr(0, 64));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return Status::InvalidArgument("profile name \"" + shown +
                                 "\" is invalid (use 1-64 characters of letters, digits, '_', '.' and '-')");
}

Status ValidateBuildArg(std::string_view name, std::string_view value) {
  if (Status s = ValidateEnvKey(name); !s.ok()) return s;
  if (value.size() > 4096) return Status::InvalidArgument("build arg " + std::string(name) + " is longer than 4096 bytes");
  for (char c : value)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Status::InvalidArgument("build arg " + std::string(name) + " has a control character (values must be printable)");
  return Status::OK();
}

Status ParseAppConfig(std::string_view toml_text, AppConfig* out) {
  AppConfig cfg = *out;
  try {
    toml::table tbl = toml::parse(toml_text, std::string_view("bim.toml"));
    Status s = ParseTable(tbl, &cfg);
    if (!s.ok()) return s;
  } catch (const toml::parse_error& e) {
    // toml++ quotes the offending input raw ("saw 't\n'"); keep the message on one line.
    std::string why(e.description());
    for (char& c : why)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return Status::InvalidArgument("bim.toml line " + std::to_string(e.source().begin.line) + ": " + why +
                                   " (fix the TOML syntax)");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("bim.toml: ") + e.what());
  }
  *out = std::move(cfg);
  return Status::OK();
}

Status ParseDuration(std::string_view text, std::chrono::milliseconds* out) {
  const std::string fix = " (write a whole number and a unit: 500ms, 30s, 2m, 1h)";
  auto bad = [&](const std::string& why) {
    std::string shown(text.substr(0, 40));
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    return Status::InvalidArgument("invalid duration \"" + shown + "\": " + why + fix);
  };
  size_t i = 0;
  int64_t n = 0;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 3'600'000;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + (text[i] - '0');
    if (n > kMax) return bad("too large");
    ++i;
  }
  if (i == 0) return bad("no number");
  std::string_view unit = text.substr(i);
  int64_t scale;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return bad(unit.empty() ? "no unit" : "unknown unit");
  }
  if (n == 0) return bad("must be positive");
  *out = std::chrono::milliseconds(n * scale);
  return Status::OK();
}

Status ParseByteSize(std::string_view text, int64_t* out) {
  const std::string fix = " (write a whole number and a unit: 256m, 1g, 512k)";
  std::string shown(text.substr(0, 40));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  size_t i = 0;
  int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + (text[i] - '0');
    if (n > (int64_t{1} << 40)) return Status::InvalidArgument("size \"" + shown + "\" is too large" + fix);
    ++i;
  }
  std::string unit(text.substr(i));
  for (char& c : unit)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  int shift;
  if (unit == "b" || unit.empty()) shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  else return Status::InvalidArgument("size \"" + shown + "\" has an unknown unit" + fix);
  if (i == 0 || n == 0) return Status::InvalidArgument("size \"" + shown + "\" must be a positive number" + fix);
  *out = n << shift;
  return Status::OK();
}

std::string FormatByteSize(int64_t bytes) {
  if (bytes > 0 && bytes % (int64_t{1} << 30) == 0) return std::to_string(bytes >> 30) + "g";
  if (bytes > 0 && bytes % (int64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + "m";
  if (bytes > 0 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "k";
  return std::to_string(bytes);
}

Status ValidateHealthTimeout(std::chrono::milliseconds timeout) {
  if (timeout >= kMinHealthTimeout && timeout <= kMaxHealthTimeout) return Status::OK();
  return Status::InvalidArgument("health timeout must be between " + FormatDuration(kMinHealthTimeout) + " and " +
                                 FormatDuration(kMaxHealthTimeout) + " (got " + FormatDuration(timeout) + ")");
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace bim
