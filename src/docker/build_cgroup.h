// BuildCgroup: the cgroup one build's step containers are created under, carrying the process limit
// the classic builder has no parameter for (a fork bomb in a RUN step must not take the host down).
// Passed to the build as its cgroup parent (BuildOptions::cgroup_parent); the steps' own cgroups nest
// inside it, so pids.max bounds them all together.
//
// Needs dockerd's cgroupfs driver (with the systemd driver a cgroup parent must be a systemd slice,
// which only systemd can limit). Works with cgroup v1 (pids controller) and v2 (unified).
// Thread-safety: one object per build; different builds use different names.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace bim {

class BuildCgroup {
 public:
  BuildCgroup() = default;
  BuildCgroup(const BuildCgroup&) = delete;
  BuildCgroup& operator=(const BuildCgroup&) = delete;
  ~BuildCgroup() { Remove(); }  // best effort; see Remove

  // Creates the cgroup `name` (one path component, e.g. "bim-build-<instance>-<app>-v3") under
  // `root` (the cgroup filesystem, /sys/fs/cgroup) with pids.max = `pids`. Unavailable naming the
  // path when the cgroup filesystem cannot be written (then build without it).
  Status Create(const std::string& root, const std::string& name, int64_t pids);

  // The value for BuildOptions::cgroup_parent ("/<name>"), "" before Create succeeded.
  std::string parent() const { return name_.empty() ? "" : "/" + name_; }

  // Removes the cgroup in every hierarchy Docker created it in. It must be empty: true when it is
  // gone, false while a build container (Docker removes a stopped build's asynchronously) or a dying
  // process still holds it; then keep the name (Release) and try again later with RemoveNamed.
  bool Remove();
  // Gives up ownership: the destructor no longer removes it. Returns its name.
  std::string Release();
  static bool RemoveNamed(const std::string& root, const std::string& name);

  // Removes cgroups under `root` whose name starts with `prefix` (left by a crash). Best effort.
  static void RemoveStale(const std::string& root, const std::string& prefix);

  // The names of one bimd instance's build cgroups all start with this.
  static std::string InstancePrefix(const std::string& instance) { return "bim-build-" + instance + "-"; }

 private:
  std::string root_;
  std::string name_;
};

}  // namespace bim
