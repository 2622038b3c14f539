#include "core/deploy_plan.h"

namespace bim {

std::string ReleaseName(int64_t version) { return "v" + std::to_string(version); }

Status ParseReleaseName(const std::string& text, int64_t* version) {
  std::string digits = !text.empty() && (text[0] == 'v' || text[0] == 'V') ? text.substr(1) : text;
  if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("release \"" + text + "\" is not a release name (write it like v3)");
  *version = std::stoll(digits);
  if (*version <= 0) return Status::InvalidArgument("release numbers start at v1");
  return Status::OK();
}

std::string AppNetworkName(const std::string& instance_id, const std::string& app) {
  return "bim-" + instance_id + "-" + app;
}

std::string VolumeName(const std::string& instance_id, const std::string& app, const std::string& volume) {
  return "bim-" + instance_id + "-" + app + "." + volume;
}

std::string ServiceRouteKey(const std::string& app, const ServiceSpec& spec) {
  if (spec.http.port == 0) return "";
  return spec.http.main ? app : app + "." + spec.name;
}

ReleasePlan PlanRelease(const ReleaseInputs& in) {
  ReleasePlan p;
  const std::string& app = in.config.app;
  AppServices services = in.services;
  if (services.services.empty()) {
    // A plain app's inputs are validated, so this cannot fail.
    PlainAppServices(in.config, in.env, &services);
    if (!in.image_tag.empty()) services.services[0].build = false;
  }
  p.release_name = ReleaseName(in.version);
  p.network = AppNetworkName(in.instance_id, app);
  p.labels = {{labels::kManaged, "true"},
              {labels::kInstance, in.instance_id},
              {labels::kApp, app},
              {labels::kRelease, p.release_name}};
  p.server_name = AppHost(app, in.domain);
  p.url = AppUrl(app, in.domain, in.public_port);
  p.health_timeout = in.config.health.timeout;
  for (const ServiceSpec& spec : services.services) {
    ServicePlan s;
    s.service = spec.name;
    bool main = spec.http.main;
    s.workload = "bim-" + app + "-" + p.release_name + (main ? "" : "-" + spec.name);
    auto reused = in.images.find(spec.name);
    if (main && !in.image_tag.empty()) {
      s.image_tag = in.image_tag;
    } else if (reused != in.images.end()) {
      s.image_tag = reused->second;
    } else if (spec.build) {
      s.build = true;
      // Other services tag "bim/<app>:v3-<service>": one repository per app, so the build-image rules
      // (image_ref.h BimAppOfReference) and the build cache see every image of the app as its own.
      s.image_tag = std::string(kImageRepository) + "/" + app + ":" + p.release_name + (main ? "" : "-" + spec.name);
    } else {
      s.image_tag = spec.image;
    }
    s.labels = p.labels;
    s.labels[labels::kService] = spec.name;
    for (const auto& var : spec.env) s.env.push_back(var.key + "=" + var.value);
    s.route = ServiceRouteKey(app, spec);
    if (main) s.server_names.push_back(p.server_name);
    for (const auto& r : spec.http.routes) s.server_names.push_back(r + "." + p.server_name);
    s.server_names.insert(s.server_names.end(), spec.http.domains.begin(), spec.http.domains.end());
    for (const auto& v : spec.volumes) s.volumes.push_back({VolumeName(in.instance_id, app, v.source), v.target, v.read_only});
    if (main) {
      p.image_tag = s.image_tag;
      p.build = s.build;
      p.container_name = s.workload;
      p.container_env = s.env;
      p.container_port = spec.http.port;
      p.health_path = spec.http.health_path;
    }
    p.services.push_back(std::move(s));
  }
  return p;
}

std::string AppHost(const std::string& app, const std::string& domain) { return app + "." + domain; }

std::string PublicPortSuffix(const std::string& http_listen) {
  size_t colon = http_listen.rfind(':');
  std::string port = colon == std::string::npos ? "80" : http_listen.substr(colon + 1);
  return port == "80" ? "" : ":" + port;
}

std::string AppUrl(const std::string& app, const std::string& domain, const std::string& public_port) {
  return "http://" + AppHost(app, domain) + public_port + "/";
}

}  // namespace bim
