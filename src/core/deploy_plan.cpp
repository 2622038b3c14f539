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

ReleasePlan PlanRelease(const ReleaseInputs& in) {
  ReleasePlan p;
  const std::string& app = in.config.app;
  p.release_name = ReleaseName(in.version);
  p.build = in.image_tag.empty();
  p.image_tag = p.build ? std::string(kImageRepository) + "/" + app + ":" + p.release_name : in.image_tag;
  p.container_name = "bim-" + app + "-" + p.release_name;
  p.labels = {{labels::kManaged, "true"},
              {labels::kInstance, in.instance_id},
              {labels::kApp, app},
              {labels::kRelease, p.release_name}};
  for (const auto& var : in.env) p.container_env.push_back(var.key + "=" + var.value);
  p.container_port = in.config.port;
  p.health_path = in.config.health.path;
  p.health_timeout = in.config.health.timeout;
  p.server_name = AppHost(app, in.domain);
  p.url = AppUrl(app, in.domain, in.public_port);
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
