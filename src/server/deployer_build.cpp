// Building one service's image: the build-image rules (a build reads only its own app's images), the
// server's build limits (memory, CPU, processes through a cgroup), the build deadline, the app's own
// network and build cache.
#include <unistd.h>

#include "base/failpoint.h"
#include "base/file_util.h"
#include "base/random.h"
#include "core/deploy_plan.h"
#include "docker/build_cgroup.h"
#include "server/deployer.h"
#include "server/deployer_attempt.h"
#include "server/sub_context.h"

namespace bim {

Status Deployer::BuildService(Attempt* a, ServiceAttempt* svc, const EventSink& events, const CancelCheck& cancelled) {
  const ResourceLimits& limits = options_.build_limits;
  const ServiceSpec& spec = svc->spec;
  auto timeout = BuildTimeout(a->app);
  events({{"event", "step"},
          {"step", "build"},
          {"service", spec.name},
          {"message", "Building image " + svc->plan.image_tag + " (deadline " + FormatDuration(timeout) +
                          (limits.memory_bytes > 0 ? ", memory " + FormatByteSize(limits.memory_bytes) : "") +
                          (limits.pids > 0 && build_cgroups_ ? ", " + std::to_string(limits.pids) + " processes" : "") + ")"}});
  BuildOptions build;
  build.context_tar_path = a->context_path;
  // A service building from a sub-folder gets that folder as its context, cut out of the upload.
  std::string sub;
  struct Cleanup {
    const std::string& path;
    ~Cleanup() {
      if (!path.empty()) unlink(path.c_str());
    }
  } cleanup{sub};
  if (spec.build_from.context != ".") {
    sub = options_.data_dir + "/uploads/" + a->release.app + "-" + spec.name + "-" + RandomHex(6) + ".tar";
    Status s = ExtractSubContext(a->context_path, spec.build_from.context, spec.build_from.dockerfile, spec.name, sub);
    if (!s.ok()) return s;
    build.context_tar_path = sub;
  }
  Status s = CheckBuildImages(a->release.app, build.context_tar_path, spec.build_from.dockerfile, spec.build_from.args);
  if (!s.ok()) return spec.http.main ? s : s.Wrap("service " + spec.name);
  long long t0 = MonotonicMillis();
  build.tag = svc->plan.image_tag;
  build.dockerfile = spec.build_from.dockerfile;
  build.build_args = spec.build_from.args;
  // Only the labels cleanup needs: the classic builder turns each label into its own LABEL step
  // (an intermediate container each), which costs ~100 ms per label on a cold build.
  build.labels = {{labels::kInstance, instance_id_}, {labels::kApp, a->release.app}};
  build.network = a->network;
  build.limits = {limits.memory_bytes, limits.nano_cpus, 0};
  build.cache_from = CacheSources(a->release.app);
  BuildCgroup cgroup;  // the build's process limit; removed when the build is over
  if (limits.pids > 0 && build_cgroups_) {
    Status c = cgroup.Create(options_.cgroup_root, BuildCgroup::InstancePrefix(instance_id_) + svc->plan.workload,
                             limits.pids);
    if (c.ok()) build.cgroup_parent = cgroup.parent();
    else std::fprintf(stderr, "bimd: warning: building without a process limit: %s\n", c.message().c_str());
  }
  const long long deadline = t0 + timeout.count();
  bool late = false;
  CancelCheck stop = [&] {
    late = MonotonicMillis() >= deadline;
    return late || (cancelled && cancelled());
  };
  std::string image_id;
  s = images_->BuildImage(
      build,
      [&](std::string_view line) {
        Failpoint("build");
        events({{"event", "build"}, {"line", std::string(line)}, {"service", spec.name}});
      },
      &image_id, stop);
  // Docker may have tagged an image even if the stream broke off: clean it up on any failure.
  svc->built = true;
  // A stopped build's container goes away a little later: its cgroup is then removed in the background.
  if (!cgroup.parent().empty() && !cgroup.Remove()) {
    std::lock_guard<std::mutex> lock(retire_mu_);
    stale_cgroups_.push_back(cgroup.Release());
  }
  if (late && !s.ok())
    return Status::FailedPrecondition("the build did not finish within its deadline of " + FormatDuration(timeout) +
                                      " and was stopped (make it faster, or raise [build] timeout in bim.toml, up to "
                                      "bimd's --build-timeout " + FormatDuration(options_.build_timeout) + ")");
  if (!s.ok()) {
    if (cancelled && cancelled()) return Status::Cancelled("deploy cancelled by the client during the build");
    if (s.code() == Code::kFailedPrecondition) return Status::FailedPrecondition("build failed: " + s.message());
    return s.Wrap("build");
  }
  svc->image_id = image_id;
  return Status::OK();
}

}  // namespace bim
