#include "core/app_services.h"

#include <algorithm>

#include "core/validate.h"

namespace bim {

using nlohmann::json;

namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string PortList(const std::vector<int>& ports) {
  std::string out;
  for (int p : ports) out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}

// The one port a service lists, or why it cannot be chosen.
Status OnlyPort(const ComposeService& svc, const std::string& fix, int* port) {
  if (svc.ports.size() == 1) {
    *port = svc.ports[0];
    return Status::OK();
  }
  if (svc.ports.empty())
    return Status::InvalidArgument("service " + svc.name + " lists no port in ports or expose; " + fix);
  return Status::InvalidArgument("service " + svc.name + " lists ports " + PortList(svc.ports) + "; " + fix);
}

ServiceSpec FromCompose(const ComposeService& svc, const EnvList& app_env) {
  ServiceSpec s;
  s.name = svc.name;
  s.build = svc.has_build;
  s.build_from = svc.build;
  s.image = svc.has_build ? "" : svc.image;
  s.command = svc.command;
  s.entrypoint = svc.entrypoint;
  s.env = svc.environment;
  for (const auto& var : app_env) SetEnv(&s.env, var.key, var.value);
  s.volumes = svc.volumes;
  for (const auto& d : svc.depends_on) s.depends_on.push_back(d.service);
  s.has_healthcheck = svc.has_healthcheck && svc.healthcheck.test != std::vector<std::string>{"NONE"};
  if (s.has_healthcheck) s.healthcheck = svc.healthcheck;
  s.restart_policy = svc.restart.empty() ? "unless-stopped" : svc.restart;
  s.replicas = svc.replicas;
  s.memory_bytes = svc.memory_bytes;
  s.nano_cpus = svc.nano_cpus;
  s.pids = svc.pids;
  // Two copies of a database on one data directory corrupt it: services that own named volumes are
  // replaced by stopping the old copy first, unless the file says otherwise.
  s.stop_first = svc.update_order.empty() ? !svc.volumes.empty() : svc.update_order == "stop-first";
  s.stop_grace_seconds = svc.stop_grace_seconds;
  return s;
}

// Serves `spec` on `port`, or refuses a second, different port for the same service.
Status Serve(ServiceSpec* spec, int port, const std::string& path, const std::string& why) {
  if (spec->http.port != 0 && spec->http.port != port)
    return Status::InvalidArgument("service " + spec->name + " is routed on port " + std::to_string(spec->http.port) +
                                   " and on port " + std::to_string(port) + " (" + why +
                                   "); bim routes one port per service, so use the same port");
  if (spec->http.port == 0) spec->http.health_path = path;
  spec->http.port = port;
  return Status::OK();
}

}  // namespace

Status PlainAppServices(const AppConfig& config, const EnvList& env, AppServices* out) {
  const std::string need = " needs a Compose file (compose.yaml); this folder deploys as one service, \"web\"";
  if (!config.service.empty() && config.service != "web") return Status::InvalidArgument("bim.toml: service = \"" + config.service + "\"" + need);
  if (!config.profiles.empty()) return Status::InvalidArgument("bim.toml: profiles" + need);
  ServiceSpec web;
  web.name = "web";
  web.build = true;
  web.build_from.args = config.build_args;
  web.env = env;
  web.http.port = config.port;
  web.http.health_path = config.health.path;
  web.http.main = true;
  for (const auto& route : config.routes) {
    if (route.service != "web")
      return Status::InvalidArgument("bim.toml: routes." + route.name + " must say service = \"web\"" + need);
    if (route.port != 0 && route.port != config.port)
      return Status::InvalidArgument("bim.toml: routes." + route.name + ".port must be the app's port " +
                                     std::to_string(config.port) + " (one service, one port)");
    web.http.routes.push_back(route.name);
    web.http.domains.insert(web.http.domains.end(), route.domains.begin(), route.domains.end());
  }
  *out = AppServices{{std::move(web)}, {}};
  return Status::OK();
}

Status ComposeAppServices(const AppConfig& config, const ComposeProject& project, const EnvList& app_env,
                          AppServices* out) {
  AppServices app;
  app.volumes = project.volumes;
  for (const auto& svc : project.services) app.services.push_back(FromCompose(svc, app_env));
  auto find = [&](const std::string& name) -> const ComposeService* {
    for (const auto& s : project.services)
      if (s.name == name) return &s;
    return nullptr;
  };
  std::vector<std::string> names;
  for (const auto& s : project.services) names.push_back(s.name);

  // The main service: bim.toml's `service`, else the one service with a port.
  const ComposeService* main = nullptr;
  if (!config.service.empty()) {
    main = find(config.service);
    if (!main)
      return Status::InvalidArgument("bim.toml: service = \"" + config.service + "\" is not a service of the Compose file (it has " +
                                     Join(names) + ")");
  } else {
    std::vector<std::string> with_ports;
    for (const auto& s : project.services)
      if (!s.ports.empty()) with_ports.push_back(s.name);
    if (with_ports.empty())
      return Status::InvalidArgument("no service of the Compose file lists a port (ports or expose), so bim cannot tell which one "
                                     "serves HTTP: set service = \"NAME\" and port = N in bim.toml");
    if (with_ports.size() > 1)
      return Status::InvalidArgument("services " + Join(with_ports) + " all list ports: set service = \"NAME\" in bim.toml for the "
                                     "one served at <app>.<domain> (and [routes.NAME] for others)");
    main = find(with_ports[0]);
  }
  int port = config.port;
  if (!config.port_set)
    if (Status s = OnlyPort(*main, "set port = N in bim.toml to say which one serves HTTP", &port); !s.ok()) return s;
  ServiceSpec* main_spec = &app.services[main - project.services.data()];
  if (Status s = Serve(main_spec, port, config.health.path, "<app>.<domain>"); !s.ok()) return s;
  main_spec->http.main = true;

  for (const auto& route : config.routes) {
    std::string target = route.service.empty() ? route.name : route.service;
    const ComposeService* svc = find(target);
    if (!svc)
      return Status::InvalidArgument("bim.toml: routes." + route.name + " names service " + target +
                                     ", which the Compose file does not have (it has " + Join(names) +
                                     "); set service = \"NAME\" under [routes." + route.name + "]");
    ServiceSpec* spec = &app.services[svc - project.services.data()];
    int route_port = route.port;
    if (route_port == 0 && spec->http.port != 0) route_port = spec->http.port;
    if (route_port == 0)
      if (Status s = OnlyPort(*svc, "set port = N under [routes." + route.name + "]", &route_port); !s.ok()) return s;
    if (Status s = Serve(spec, route_port, route.health_path, "routes." + route.name); !s.ok()) return s;
    spec->http.routes.push_back(route.name);
    spec->http.domains.insert(spec->http.domains.end(), route.domains.begin(), route.domains.end());
  }
  *out = std::move(app);
  return Status::OK();
}

json ServiceSpecJson(const ServiceSpec& s) {
  json build = json::object();
  if (s.build)
    build = {{"context", s.build_from.context}, {"dockerfile", s.build_from.dockerfile}, {"args", s.build_from.args}};
  json volumes = json::array();
  for (const auto& v : s.volumes) volumes.push_back({{"source", v.source}, {"target", v.target}, {"read_only", v.read_only}});
  json health = nullptr;
  if (s.has_healthcheck)
    health = {{"test", s.healthcheck.test},
              {"interval_ms", s.healthcheck.interval.count()},
              {"timeout_ms", s.healthcheck.timeout.count()},
              {"start_period_ms", s.healthcheck.start_period.count()},
              {"retries", s.healthcheck.retries}};
  return json{{"name", s.name},
              {"build", s.build ? build : json(nullptr)},
              {"image", s.image},
              {"command", s.command},
              {"entrypoint", s.entrypoint},
              {"volumes", volumes},
              {"depends_on", s.depends_on},
              {"healthcheck", health},
              {"restart", s.restart_policy},
              {"replicas", s.replicas},
              {"limits", {{"memory_bytes", s.memory_bytes}, {"nano_cpus", s.nano_cpus}, {"pids", s.pids}}},
              {"stop_first", s.stop_first},
              {"stop_grace_seconds", s.stop_grace_seconds},
              {"http",
               {{"port", s.http.port},
                {"health_path", s.http.health_path},
                {"main", s.http.main},
                {"routes", s.http.routes},
                {"domains", s.http.domains}}}};
}

Status ServiceSpecFromJson(const json& j, ServiceSpec* out) {
  try {
    ServiceSpec s;
    s.name = j.at("name").get<std::string>();
    if (j.at("build").is_object()) {
      s.build = true;
      s.build_from.context = j["build"].at("context").get<std::string>();
      s.build_from.dockerfile = j["build"].at("dockerfile").get<std::string>();
      s.build_from.args = j["build"].at("args").get<std::map<std::string, std::string>>();
    }
    s.image = j.at("image").get<std::string>();
    s.command = j.at("command").get<std::vector<std::string>>();
    s.entrypoint = j.at("entrypoint").get<std::vector<std::string>>();
    for (const auto& v : j.at("volumes"))
      s.volumes.push_back({v.at("source").get<std::string>(), v.at("target").get<std::string>(), v.at("read_only").get<bool>()});
    s.depends_on = j.at("depends_on").get<std::vector<std::string>>();
    if (j.at("healthcheck").is_object()) {
      const json& h = j["healthcheck"];
      s.has_healthcheck = true;
      s.healthcheck.test = h.at("test").get<std::vector<std::string>>();
      s.healthcheck.interval = std::chrono::milliseconds(h.at("interval_ms").get<int64_t>());
      s.healthcheck.timeout = std::chrono::milliseconds(h.at("timeout_ms").get<int64_t>());
      s.healthcheck.start_period = std::chrono::milliseconds(h.at("start_period_ms").get<int64_t>());
      s.healthcheck.retries = h.at("retries").get<int>();
    }
    s.restart_policy = j.at("restart").get<std::string>();
    s.replicas = j.at("replicas").get<int>();
    s.memory_bytes = j.at("limits").at("memory_bytes").get<int64_t>();
    s.nano_cpus = j.at("limits").at("nano_cpus").get<int64_t>();
    s.pids = j.at("limits").at("pids").get<int64_t>();
    s.stop_first = j.at("stop_first").get<bool>();
    s.stop_grace_seconds = j.at("stop_grace_seconds").get<int>();
    const json& http = j.at("http");
    s.http.port = http.at("port").get<int>();
    s.http.health_path = http.at("health_path").get<std::string>();
    s.http.main = http.at("main").get<bool>();
    s.http.routes = http.at("routes").get<std::vector<std::string>>();
    s.http.domains = http.at("domains").get<std::vector<std::string>>();
    *out = std::move(s);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("a recorded service spec cannot be read: ") + e.what());
  }
  return Status::OK();
}

std::string ServiceDigest(const ServiceSpec& spec, const std::string& image_id, const EnvDigester& digest_env) {
  json settings = ServiceSpecJson(spec);
  // Routing changes without touching the container: host names and the health path are not part of it.
  settings["http"].erase("health_path");
  settings["http"].erase("routes");
  settings["http"].erase("domains");
  settings["http"].erase("main");
  settings.erase("build");       // the image id says what the build produced
  settings.erase("depends_on");  // the order of starting, not the container
  settings.erase("stop_first");  // how it is replaced, not what runs
  return digest_env({{"image_id", image_id}, {"env", digest_env(spec.env)}, {"settings", settings.dump()}});
}

const ServiceSpec* FindService(const AppServices& app, const std::string& name) {
  for (const auto& s : app.services)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace bim
