// cluster_bench: the cluster figures of README "Running on several hosts", side by side for an app with
// 1 replica (the baseline: one host at a time) and the same app with 3 replicas, on the cluster suite's
// test hosts (tests/cluster/testbed.h: three network namespaces, one dockerd each, one Swarm). Run by
// bench/cluster_bench.sh, which forms the bed, passes it here, and removes it afterwards, pass or fail.
//
//   cluster_bench --bed STATE_FILE [--releases N]
//
// For each app, in turn and under the strict load of tests/support (keep-alive that never re-sends,
// and a new connection per request; every error, non-2xx and latency counted):
//   - first deploy (build, push to bimd's registry, N tasks healthy, switch)
//   - N releases (`bim deploy` with a changed .env: a new Swarm service, every task probed healthy,
//     route switch, old service drained): median and max time, and the errors the load saw
// Then both apps under load at once while the host carrying the 1-replica app's task (never host 1,
// where bimd, nginx and the registry run) is cut off and killed: the errors each app's load saw, and the
// time from the kill until the app is at full capacity again (all its replicas running and routed, none
// on the dead host). Prints figures; asserts nothing.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/file_util.h"
#include "base/health_probe.h"
#include "cluster/testbed.h"
#include "support/bimd_harness.h"
#include "support/load_generator.h"

namespace bim::testing {
namespace {

using nlohmann::json;

struct Figures {
  long long first_deploy_ms = 0;
  std::vector<long long> release_ms;
  int failed_releases = 0;
  LoadReport release_keepalive, release_fresh;
  LoadReport failure_keepalive, failure_fresh;
  long long capacity_ms = -1;  // -1: not back within the bound
};

// Both load modes against one app through bimd's nginx, at the cluster suite's rates.
class BothModes {
 public:
  explicit BothModes(HttpTarget target)
      : keepalive_(target, {ConnectionMode::kKeepAlive, 2, 80}), fresh_(target, {ConnectionMode::kNewPerRequest, 1, 40}) {
    keepalive_.Start();
    fresh_.Start();
  }
  void Stop(LoadReport* keepalive, LoadReport* fresh) {
    *keepalive = keepalive_.Stop();
    *fresh = fresh_.Stop();
  }

 private:
  LoadGenerator keepalive_, fresh_;
};

std::string Toml(const std::string& app, int replicas, const std::string& placement) {
  std::string toml = "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/healthz\"\ntimeout = \"60s\"\n" +
                     "[deploy]\nreplicas = " + std::to_string(replicas) + "\n";
  if (!placement.empty()) toml += "placement = [\"" + placement + "\"]\n";
  return toml;
}

// The live release's running instances: endpoint -> node hostname.
std::map<std::string, std::string> Running(const Bimd& bimd, const std::string& app) {
  std::map<std::string, std::string> out;
  json s = bimd.Bim({"status", app, "--json"}, 30).Json();
  if (!s.is_object()) return out;
  for (const json& i : s.value("instances", json::array()))
    if (i.value("running", false)) out[i.value("endpoint", "")] = i.value("node", "");
  return out;
}

long long Deploy(const Bimd& bimd, const AppFolder& folder, bool* ok) {
  long long t0 = MonotonicMillis();
  CommandResult r = bimd.Bim({"deploy", folder.path(), "--json"}, 300);
  *ok = r.exit_code == 0;
  if (!*ok) std::fprintf(stderr, "cluster_bench: deploy failed (exit %d): %s\n", r.exit_code, r.err.c_str());
  return MonotonicMillis() - t0;
}

long long Median(std::vector<long long> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Errors(const LoadReport& r) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld/%lld failed, max %.0f ms", r.errors + r.non_2xx, r.requests,
                static_cast<double>(r.max_latency.count()) / 1000.0);
  return buf;
}

int Run(const std::string& state_file, int releases) {
  TestBed bed;
  if (!TestBed::Load(state_file, &bed)) {
    std::fprintf(stderr, "cluster_bench: error: no test bed at %s (form one with cluster_testbed up)\n", state_file.c_str());
    return 2;
  }
  std::string error;
  // Before any thread: bimd, nginx, the registry, bim and the load all live in host 1's network.
  if (!bed.EnterHostNetwork("h1", &error)) {
    std::fprintf(stderr, "cluster_bench: error: %s\n", error.c_str());
    return 1;
  }
  int registry_port = 0;
  PickFreeLoopbackPort(&registry_port);
  Bimd bimd({"--docker-socket", bed.manager().socket, "--engine", "swarm", "--registry-listen",
             bed.manager().address + ":" + std::to_string(registry_port), "--drain-grace-ms", "3000"});

  const std::string suffix = UniqueSuffix().substr(0, 6);
  const std::vector<int> counts = {1, 3};
  std::map<int, std::string> apps;
  std::map<int, std::unique_ptr<AppFolder>> folders;
  std::map<int, Figures> figures;
  for (int replicas : counts) {
    const std::string app = apps[replicas] = "bench" + std::to_string(replicas) + "-" + suffix;
    // The 1-replica app stays off host 1, so the host the bench kills is the one carrying it.
    folders[replicas] = std::make_unique<AppFolder>(app, "GREETING=v0\n");
    folders[replicas]->Write("bim.toml", Toml(app, replicas, replicas == 1 ? "node.role!=manager" : ""));
    Figures& f = figures[replicas];
    bool ok = false;
    f.first_deploy_ms = Deploy(bimd, *folders[replicas], &ok);
    if (!ok) return 1;
    std::printf("cluster_bench: %s deployed with %d replica(s) in %lld ms\n", app.c_str(), replicas, f.first_deploy_ms);
    std::fflush(stdout);

    BothModes load(bimd.Target(app));
    for (int v = 1; v <= releases; ++v) {
      folders[replicas]->Write(".env", "GREETING=v" + std::to_string(v) + "\n");
      long long ms = Deploy(bimd, *folders[replicas], &ok);
      if (ok) f.release_ms.push_back(ms);
      else f.failed_releases++;
      std::printf("cluster_bench: %s release %d: %lld ms%s\n", app.c_str(), v, ms, ok ? "" : " (failed)");
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    load.Stop(&f.release_keepalive, &f.release_fresh);
  }

  // A host dies under load: the one running the 1-replica app's task (h2 or h3).
  std::string victim_node;
  for (const auto& [endpoint, node] : Running(bimd, apps[1])) victim_node = node;
  const TestHost* victim = nullptr;
  for (const TestHost& h : bed.hosts())
    if (h.netns == victim_node && h.name != "h1") victim = &h;
  if (!victim) {
    std::fprintf(stderr, "cluster_bench: error: the 1-replica app runs on \"%s\", not on h2/h3\n", victim_node.c_str());
    return 1;
  }
  std::map<int, std::unique_ptr<BothModes>> loads;
  for (int replicas : counts) loads[replicas] = std::make_unique<BothModes>(bimd.Target(apps[replicas]));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::printf("cluster_bench: killing %s (%s) under load\n", victim->name.c_str(), victim->netns.c_str());
  std::fflush(stdout);
  long long t0 = MonotonicMillis();
  if (!bed.KillHost(victim->name, &error)) {
    std::fprintf(stderr, "cluster_bench: error: %s\n", error.c_str());
    return 1;
  }
  const long long bound_ms = 180000;
  while (MonotonicMillis() - t0 < bound_ms) {
    bool all = true;
    for (int replicas : counts) {
      Figures& f = figures[replicas];
      if (f.capacity_ms >= 0) continue;
      auto running = Running(bimd, apps[replicas]);
      bool full = static_cast<int>(running.size()) == replicas;
      for (const auto& [endpoint, node] : running) full = full && node != victim->netns;
      if (full) f.capacity_ms = MonotonicMillis() - t0;
      else all = false;
    }
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // load on the restored capacity too
  for (int replicas : counts) loads[replicas]->Stop(&figures[replicas].failure_keepalive, &figures[replicas].failure_fresh);

  auto capacity = [&](int replicas) {
    long long ms = figures[replicas].capacity_ms;
    return ms < 0 ? std::string("not within 180 s") : std::to_string(ms) + " ms";
  };
  auto releases_text = [&](int replicas) {
    const Figures& f = figures[replicas];
    std::string s = std::to_string(Median(f.release_ms)) + " ms median, " +
                    std::to_string(f.release_ms.empty() ? 0 : *std::max_element(f.release_ms.begin(), f.release_ms.end())) +
                    " ms max";
    if (f.failed_releases) s += " (" + std::to_string(f.failed_releases) + " failed)";
    return s;
  };
  std::printf("\nbim on Docker Swarm, %zu test hosts (network namespaces, one dockerd each), %ld cores\n",
              bed.hosts().size(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("load: keep-alive (2 connections, 80 req/s, never re-sent) + new connection per request (40 req/s)\n");
  std::printf("%-44s | %-34s | %-34s\n", "", "1 replica (baseline)", "3 replicas (one per host)");
  auto row = [](const std::string& name, const std::string& a, const std::string& b) {
    std::printf("%-44s | %-34s | %-34s\n", name.c_str(), a.c_str(), b.c_str());
  };
  row("first deploy (build, push, healthy, switch)", std::to_string(figures[1].first_deploy_ms) + " ms",
      std::to_string(figures[3].first_deploy_ms) + " ms");
  row("release (.env changed), " + std::to_string(releases) + " releases", releases_text(1), releases_text(3));
  row("errors during releases, keep-alive", Errors(figures[1].release_keepalive), Errors(figures[3].release_keepalive));
  row("errors during releases, new connection", Errors(figures[1].release_fresh), Errors(figures[3].release_fresh));
  row("errors during host failure, keep-alive", Errors(figures[1].failure_keepalive), Errors(figures[3].failure_keepalive));
  row("errors during host failure, new connection", Errors(figures[1].failure_fresh), Errors(figures[3].failure_fresh));
  row("host failure -> full capacity", capacity(1), capacity(3));
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace bim::testing

int main(int argc, char** argv) {
  std::string bed;
  int releases = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--bed" && i + 1 < argc) bed = argv[++i];
    else if (a == "--releases" && i + 1 < argc) releases = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: cluster_bench --bed STATE_FILE [--releases N]\n");
      return 2;
    }
  }
  if (bed.empty()) {
    std::fprintf(stderr, "usage: cluster_bench --bed STATE_FILE [--releases N] (bench/cluster_bench.sh forms the bed)\n");
    return 2;
  }
  return bim::testing::Run(bed, releases);
}
