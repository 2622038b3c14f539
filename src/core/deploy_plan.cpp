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
  p.server_name = app + "." + in.domain;
  p.url = "http://" + p.server_name + in.public_port + "/";
  return p;
}

}  // namespace bim
