#include "server/teardown.h"

#include <cstdio>
#include <set>

#include "core/deploy_plan.h"
#include "docker/build_cgroup.h"

namespace bim {

Status TeardownInstance(const ServerOptions& options, const std::string& instance_id, DockerClient* docker,
                        Router* router, NetworkFirewall* firewall) {
  Status first;
  auto note = [&first](const Status& s) {
    if (s.ok() || s.IsNotFound()) return;
    std::fprintf(stderr, "bimd: teardown: %s\n", s.message().c_str());
    if (first.ok()) first = s;
  };
  const Labels mine = {{labels::kInstance, instance_id}};
  note(router->Stop());
  std::vector<ContainerInfo> containers;
  note(docker->ListContainers(mine, true, &containers));
  for (const auto& c : containers) note(docker->RemoveContainer(c.id, true));
  std::vector<ImageInfo> images;
  note(docker->ListImages(mine, &images));
  for (const auto& img : images) {
    for (const auto& tag : img.tags) note(docker->RemoveImage(tag, false));
    if (img.tags.empty()) note(docker->RemoveImage(img.id, false));
  }
  std::vector<NetworkInfo> networks;
  note(docker->ListNetworks(mine, &networks));
  for (const auto& n : networks) note(docker->RemoveNetwork(n.id));
  note(firewall->Remove());
  BuildCgroup::RemoveStale(options.cgroup_root, BuildCgroup::InstancePrefix(instance_id));
  std::printf("bimd: removed %zu container(s), %zu image(s), %zu network(s) and the firewall rules of instance %s\n",
              containers.size(), images.size(), networks.size(), instance_id.c_str());
  return first;
}

bool CleanStartLeftovers(const ServerOptions& options, const std::string& instance_id, DockerClient* docker,
                         Store* store) {
  std::vector<App> apps;
  std::vector<NetworkInfo> networks;
  if (store->ListApps(&apps).ok() && docker->ListNetworks({{labels::kInstance, instance_id}}, &networks).ok()) {
    std::set<std::string> names;
    for (const auto& a : apps) names.insert(a.name);
    for (const auto& n : networks) {
      auto app = n.labels.find(labels::kApp);
      if (app == n.labels.end() || !names.count(app->second)) docker->RemoveNetwork(n.id);
    }
  }
  std::string driver;
  bool cgroups = docker->CgroupDriver(&driver).ok() && driver == "cgroupfs";
  if (cgroups) BuildCgroup::RemoveStale(options.cgroup_root, BuildCgroup::InstancePrefix(instance_id));
  else if (options.build_limits.pids > 0)
    std::fprintf(stderr, "bimd: warning: builds run without a process limit: dockerd uses the %s cgroup driver "
                         "(bim sets it up with cgroupfs only)\n", driver.empty() ? "unknown" : driver.c_str());
  return cgroups;
}

}  // namespace bim
