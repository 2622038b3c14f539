// Tenants, limits: one app cannot starve the host. Its containers and builds run with memory, CPU and
// process limits (bim.toml may ask within the server's maxima), its logs are bounded on disk, a build
// past its deadline is stopped and frees the app, and an admin can cancel a release (or destroy a busy
// app) without waiting for it.
#include <dirent.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include "base/file_util.h"
#include "tenants/tenant_world.h"

namespace bim::testing {
namespace {

using nlohmann::json;

// True while a process whose command line holds `tag` runs on this host (containers' included).
bool ProcessWithTag(const std::string& tag) {
  DIR* d = opendir("/proc");
  bool found = false;
  while (dirent* e = d ? readdir(d) : nullptr) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmdline;  // a process may exit while it is read: then it is simply not there
    if (ReadFile(std::string("/proc/") + e->d_name + "/cmdline", &cmdline).ok() && cmdline.find(tag) != std::string::npos)
      found = true;
  }
  if (d) closedir(d);
  return found;
}

// Build cgroups of this bimd instance still on the host.
int BuildCgroups(const std::string& instance) {
  int n = 0;
  for (const char* root : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup"}) {
    DIR* d = opendir(root);
    while (dirent* e = d ? readdir(d) : nullptr)
      if (std::string(e->d_name).starts_with("bim-build-" + instance)) ++n;
    if (d) closedir(d);
  }
  return n;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

const char* kLimits = "[resources]\nmemory = \"64m\"\ncpus = 0.5\npids = 48\n";

std::string SleepingBuild(const std::string& tag) {
  return "FROM scratch\nCOPY probe /probe\nRUN [\"/probe\", \"sleep\", \"120\", \"" + tag + "\"]\nCMD [\"/probe\"]\n";
}

TEST(TenantsLimits, ContainersAndBuildsAreBoundedAndReleasesCanBeStopped) {
  TenantWorld world({"--log-max-size", "1m", "--log-max-files", "2", "--build-pids", "64", "--build-memory", "96m",
                     "--memory", "128m", "--max-memory", "256m"});
  ProbeFolder a(world.a(), kProbeDockerfile, kLimits);
  CommandResult v1 = world.DeployA(a);
  ASSERT_EQ(v1.exit_code, 0) << v1.err;

  // The container runs with what bim.toml asked for, and the server's log rotation.
  ContainerInfo live = world.LiveContainer(world.a());
  EXPECT_EQ(live.limits.memory_bytes, 64 << 20);
  EXPECT_EQ(live.limits.nano_cpus, 500'000'000);
  EXPECT_EQ(live.limits.pids, 48);
  EXPECT_EQ(live.log_config["max-size"], "1m");
  EXPECT_EQ(live.log_config["max-file"], "2");
  // A fork bomb stops at the process limit (the probe already runs a few threads of its own).
  HttpResult threads = world.Get(world.a(), "/threads?n=1000");
  ASSERT_EQ(threads.status, 200) << threads.error;
  int started = json::parse(threads.body, nullptr, false).value("started", -1);
  EXPECT_GE(started, 1);
  EXPECT_LT(started, 48) << threads.body;
  // 4 MiB of logs leave at most 2 x 1 MiB on disk.
  ASSERT_EQ(world.Get(world.a(), "/log?kb=4096").status, 200);
  int64_t on_disk = FileSize(live.log_path) + FileSize(live.log_path + ".1") + FileSize(live.log_path + ".2");
  EXPECT_GT(on_disk, 0);
  EXPECT_LE(on_disk, (2 << 20) + (64 << 10)) << "log files of " << live.log_path;

  // More than the server allows is refused before anything runs.
  ProbeFolder greedy(world.a(), kProbeDockerfile, "[resources]\nmemory = \"1g\"\n");
  CommandResult refused = world.DeployA(greedy);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(ErrorLine(refused.err).find("above this server's maximum 256m"), std::string::npos) << refused.err;

  // An app that outgrows its memory fails its release; the live one keeps serving.
  ProbeFolder hungry(world.a(), kProbeDockerfile, kLimits, "ALLOC_MB_AT_START=200\n");
  CommandResult oom = world.DeployA(hungry);
  EXPECT_EQ(oom.exit_code, 1) << oom.err;
  EXPECT_NE(ErrorLine(oom.err).find("out of memory"), std::string::npos) << oom.err;
  EXPECT_EQ(world.Get(world.a(), "/healthz").status, 200);

  // Builds: the process limit holds for the whole build, the memory limit for each step.
  ProbeFolder forky(world.a(), "FROM scratch\nCOPY probe /probe\nRUN [\"/probe\", \"threads\", \"1000\"]\nCMD [\"/probe\"]\n",
                    kLimits);
  CommandResult forked = world.DeployA(forky);
  ASSERT_EQ(forked.exit_code, 0) << forked.err;
  size_t at = forked.err.find("threads: ");
  ASSERT_NE(at, std::string::npos) << forked.err;
  EXPECT_LT(std::stoi(forked.err.substr(at + 9)), 64) << forked.err.substr(at, 40);
  ProbeFolder big(world.a(), "FROM scratch\nCOPY probe /probe\nRUN [\"/probe\", \"alloc\", \"400\"]\n", kLimits);
  CommandResult bloated = world.DeployA(big);
  EXPECT_EQ(bloated.exit_code, 1) << bloated.err;
  EXPECT_NE(ErrorLine(bloated.err).find("137"), std::string::npos) << "killed at the build's memory limit: " << bloated.err;
  EXPECT_EQ(BuildCgroups(world.server().instance()), 0) << "a build's cgroup is removed when it ends";

  // A build past its deadline is stopped, its processes with it, and the app is free at once.
  std::string tag = "deadline-" + UniqueSuffix();
  ProbeFolder slow(world.a(), SleepingBuild(tag), std::string(kLimits) + "[build]\ntimeout = \"3s\"\n");
  long long t0 = MonotonicMillis();
  CommandResult late = world.DeployA(slow, 100);
  EXPECT_EQ(late.exit_code, 1) << late.err;
  EXPECT_NE(ErrorLine(late.err).find("deadline of 3s"), std::string::npos) << late.err;
  std::printf("[ figures ] build deadline 3s: the deploy failed after %lld ms\n", MonotonicMillis() - t0);
  EXPECT_TRUE(Eventually([&] { return !ProcessWithTag(tag); }, 20)) << "the build's sleeping step still runs";
  EXPECT_TRUE(Eventually([&] { return BuildCgroups(world.server().instance()) == 0; }, 30));
  CommandResult idle = world.server().Bim({"cancel", world.a()});
  EXPECT_EQ(idle.exit_code, 4) << "the app is free again, nothing in progress: " << idle.err;

  // bim cancel: only an unscoped token; it stops the running release and the app keeps serving.
  std::string cancel_tag = "cancel-" + UniqueSuffix();
  ProbeFolder long_build(world.a(), SleepingBuild(cancel_tag), kLimits);
  auto running = std::async(std::launch::async, [&] { return world.BimAs(world.token_a(), {"deploy", long_build.path()}); });
  ASSERT_TRUE(Eventually([&] { return ProcessWithTag(cancel_tag); }, 60)) << "the build never started";
  CommandResult scoped = world.BimAs(world.token_a(), {"cancel", world.a()});
  EXPECT_EQ(scoped.exit_code, 3) << scoped.err;
  CommandResult cancel = world.server().Bim({"cancel", world.a(), "--json"});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_NE(cancel.Json().value("cancelled", "").find("deploy"), std::string::npos) << cancel.out;
  CommandResult cancelled = running.get();
  EXPECT_EQ(cancelled.exit_code, 130) << cancelled.err;
  EXPECT_NE(ErrorLine(cancelled.err).find("cancelled by admin"), std::string::npos) << cancelled.err;
  EXPECT_TRUE(Eventually([&] { return !ProcessWithTag(cancel_tag); }, 20));
  EXPECT_EQ(world.Get(world.a(), "/healthz").status, 200);

  // bim destroy of a busy app cancels its release instead of waiting for it.
  std::string c = "tc-" + UniqueSuffix();
  std::string destroy_tag = "destroy-" + UniqueSuffix();
  ProbeFolder c_folder(c, SleepingBuild(destroy_tag));
  auto busy = std::async(std::launch::async, [&] { return world.server().Bim({"deploy", c_folder.path()}); });
  ASSERT_TRUE(Eventually([&] { return ProcessWithTag(destroy_tag); }, 60)) << "c's build never started";
  long long d0 = MonotonicMillis();
  CommandResult destroyed = world.server().Bim({"destroy", c, "--yes"});
  long long destroy_ms = MonotonicMillis() - d0;
  EXPECT_EQ(destroyed.exit_code, 0) << destroyed.err;
  std::printf("[ figures ] destroy of an app busy building: %lld ms\n", destroy_ms);
  EXPECT_LT(destroy_ms, 60'000) << "destroy waited for the 120 s build";
  CommandResult busy_result = busy.get();
  EXPECT_NE(busy_result.exit_code, 0);
  EXPECT_NE(ErrorLine(busy_result.err).find("being destroyed"), std::string::npos) << busy_result.err;
  EXPECT_EQ(world.server().Bim({"status", c}).exit_code, 4);
  EXPECT_TRUE(Eventually([&] { return !ProcessWithTag(destroy_tag); }, 20));
}

}  // namespace
}  // namespace bim::testing
