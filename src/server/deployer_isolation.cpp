// What keeps one tenant's release from reading, reaching or starving another's: the app's own
// network, the images its build may read, its build cache, and the limits of its builds and
// containers. The release flow (deployer.cpp) calls these; the policy comes from ServerOptions.
#include <thread>

#include "core/deploy_plan.h"
#include "core/dockerfile.h"
#include "core/image_ref.h"
#include "server/context_check.h"
#include "server/deployer.h"

namespace bim {

namespace {
constexpr size_t kMaxDockerfileBytes = 1 << 20;

std::string CpuText(int64_t nano_cpus) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", nano_cpus / 1e9);
  return buf;
}
}  // namespace

std::string Deployer::AppNetworkName(const std::string& app) const { return bim::AppNetworkName(instance_id_, app); }

std::string Deployer::ServicesNetwork(const std::string& app, size_t services) const {
  return options_.isolate_networks || services > 1 ? AppNetworkName(app) : "";
}

Status Deployer::EnsureAppNetwork(const std::string& app, size_t services, std::string* network) {
  network->clear();
  if (ServicesNetwork(app, services).empty()) return Status::OK();
  NetworkSpec spec;
  spec.name = AppNetworkName(app);
  spec.labels = {{labels::kManaged, "true"}, {labels::kInstance, instance_id_}, {labels::kApp, app}};
  if (Status s = engine_->EnsureNetwork(spec); !s.ok()) return s.Wrap("the app's network");
  *network = spec.name;
  return Status::OK();
}

void Deployer::RemoveAppNetwork(const std::string& app) {
  // Containers may take a moment to detach after removal; a network still in use is retried.
  for (int i = 0; i < 20; ++i) {
    if (engine_->RemoveNetwork(AppNetworkName(app)).code() != Code::kConflict) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status Deployer::CheckResources(const AppConfig& config) const {
  if (Status s = CheckResourceRequest(config.resources, "bim.toml [resources]"); !s.ok()) return s;
  if (config.build_timeout > options_.build_timeout)
    return Status::InvalidArgument("bim.toml [build] timeout = " + FormatDuration(config.build_timeout) +
                                   " is above this server's build deadline " + FormatDuration(options_.build_timeout) +
                                   " (ask for less, or have the operator raise bimd's --build-timeout)");
  return Status::OK();
}

Status Deployer::CheckResourceRequest(const ResourceRequest& r, const std::string& where) const {
  const ResourceLimits& max = options_.max_container_limits;
  auto refuse = [&](const std::string& what, const std::string& asked, const std::string& allowed, const char* flag) {
    return Status::InvalidArgument(where + " " + what + " = " + asked + " is above this server's maximum " +
                                   allowed + " (ask for less, or have the operator raise bimd's " + flag + ")");
  };
  if (max.memory_bytes > 0 && r.memory_bytes > max.memory_bytes)
    return refuse("memory", FormatByteSize(r.memory_bytes), FormatByteSize(max.memory_bytes), "--max-memory");
  int64_t max_cpus = max.nano_cpus > 0 ? max.nano_cpus : int64_t{1'000'000'000} * std::thread::hardware_concurrency();
  if (r.nano_cpus > max_cpus) return refuse("cpus", CpuText(r.nano_cpus), CpuText(max_cpus), "--max-cpus");
  if (max.pids > 0 && r.pids > max.pids)
    return refuse("pids", std::to_string(r.pids), std::to_string(max.pids), "--max-pids");
  return Status::OK();
}

ResourceLimits Deployer::ContainerLimits(const App& app) const {
  ResourceLimits limits = options_.container_limits;
  if (app.resources.memory_bytes > 0) limits.memory_bytes = app.resources.memory_bytes;
  if (app.resources.nano_cpus > 0) limits.nano_cpus = app.resources.nano_cpus;
  if (app.resources.pids > 0) limits.pids = app.resources.pids;
  return limits;
}

std::chrono::milliseconds Deployer::BuildTimeout(const App& app) const {
  auto own = std::chrono::milliseconds(app.build_timeout_ms);
  return own.count() > 0 && own < options_.build_timeout ? own : options_.build_timeout;
}

Status Deployer::CheckOneImage(const std::string& app, const DockerfileImage& use, std::vector<std::string>* triggers) {
  ImageReference ref;
  if (Status s = ParseImageReference(use.reference, &ref); !s.ok()) return s;
  // By name first: that needs no answer from Docker (which may not even accept the spelling).
  if (!ref.IsId())
    if (Status s = CheckBuildImage(use, ref, nullptr, app, instance_id_); !s.ok()) return s;
  ImageInfo image;
  Status found = images_->InspectImage(use.reference, &image);
  // Docker not reaching its store is an error; Docker not accepting or not having the image is not:
  // the build would then fail (or pull) on its own.
  if (found.code() == Code::kUnavailable || found.code() == Code::kDeadlineExceeded)
    return found.Wrap("checking the images the build reads");
  ResolvedImage resolved;
  if (found.ok()) {
    resolved.id = image.id;
    resolved.tags = image.tags;
    resolved.app_label = image.labels.count(labels::kApp) ? image.labels.at(labels::kApp) : "";
    resolved.instance_label = image.labels.count(labels::kInstance) ? image.labels.at(labels::kInstance) : "";
    if (triggers) *triggers = image.on_build;
  }
  return CheckBuildImage(use, ref, found.ok() ? &resolved : nullptr, app, instance_id_);
}

Status Deployer::CheckBuildImages(const std::string& app, const std::string& context_path, const std::string& name,
                                  const std::map<std::string, std::string>& build_args) {
  std::string dockerfile;
  if (Status s = ReadContextFile(context_path, name, kMaxDockerfileBytes, &dockerfile); !s.ok()) return s;
  std::vector<DockerfileImage> images;
  if (Status s = FindDockerfileImages(dockerfile, build_args, &images); !s.ok()) return s;
  for (const DockerfileImage& use : images) {
    std::vector<std::string> triggers;
    if (Status s = CheckOneImage(app, use, &triggers); !s.ok()) return s;
    // A base image's ONBUILD triggers run in this build as if written in its Dockerfile.
    std::vector<DockerfileImage> triggered;
    if (Status s = FindTriggerImages(triggers, &triggered); !s.ok())
      return Status::InvalidArgument(s.message() + " (base image " + use.reference + ")");
    for (const DockerfileImage& t : triggered)
      if (Status s = CheckOneImage(app, t, nullptr); !s.ok()) return s;
  }
  return Status::OK();
}

Status Deployer::CheckServiceImage(const std::string& app, const std::string& service, const std::string& reference) {
  // The same rule as a build's FROM: an app runs its own images and shared ones, never another app's.
  return CheckOneImage(app, DockerfileImage{-1, "service " + service + "'s image:", reference}, nullptr);
}

std::vector<std::string> Deployer::CacheSources(const std::string& app) {
  // The app's own images: its builds may reuse their steps, never another app's. With none yet,
  // a name that does not exist still restricts the cache (to nothing) instead of opening it to all.
  std::vector<std::string> sources;
  std::vector<ImageInfo> images;
  if (images_->ListImages({{labels::kInstance, instance_id_}, {labels::kApp, app}}, &images).ok())
    for (const auto& image : images)
      for (const auto& tag : image.tags)
        if (tag.starts_with(std::string(kImageRepository) + "/" + app + ":")) sources.push_back(tag);
  if (sources.empty()) sources.push_back(std::string(kImageRepository) + "/" + app + ":no-cache-yet");
  return sources;
}

}  // namespace bim
