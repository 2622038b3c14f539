// routing_bench: the routing figures of README "Performance", measured on this machine, side by side
// with what the same change costs as an nginx reload (how every release switched before routes became
// data). Run by `make bench`; each part can be run alone:
//
//   routing_bench [--routes 10000,50000] [--apps 10,100,1000] [--ready 10] [--releases 200]
//
//   --routes N,...  the router alone: bimd's nginx + Lua with N sites and N routes (hello-server
//                   processes as backends, no Docker): start time, route switch latency (SetRoute to
//                   the first request answered by the new backend), a reload, nginx memory
//   --apps N,...    real apps deployed through bimd (containers): route switch latency and a reload
//                   with N apps on the host (apps are added up to each N in turn)
//   --ready K       ready -> traffic over K deploys: from the new release's first healthy answer
//                   (probed directly on its port every ms) to the first request nginx sends it
//   --releases R    nginx's (and bimd's) memory after R releases of one app (env changes)
//   --naive-max N   the naive baseline (one server block per app, switch = nginx -s reload) runs only
//                   up to N routes (default 10000; it needs ~40 KB per app in each nginx process)
//   0 or "" skips a part. Everything it creates is removed at the end.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/file_util.h"
#include "base/health_probe.h"
#include "docker/docker_client.h"
#include "proxy/nginx_router.h"
#include "support/backend_process.h"
#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  std::vector<double> v;
  void Add(double x) { v.push_back(x); }
  double Pct(double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
  }
  std::string Text() {
    char buf[128];
    std::snprintf(buf, sizeof buf, "median %.1f ms, p90 %.1f ms, max %.1f ms (n=%zu)", Pct(0.5), Pct(0.9), Pct(1.0),
                  v.size());
    return buf;
  }
};

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty() && std::atoi(item.c_str()) > 0) out.push_back(std::atoi(item.c_str()));
  return out;
}

// Memory of a set of processes: resident (RSS, counts shared pages in each) and proportional (PSS,
// shared pages split between their users), in MiB.
struct Memory {
  double rss_mib = 0, pss_mib = 0;
  int processes = 0;
};
long FieldKb(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + field.size());
  return 0;
}
Memory MemoryOf(const std::vector<int>& pids) {
  Memory m;
  for (int pid : pids) {
    std::string base = "/proc/" + std::to_string(pid);
    m.rss_mib += FieldKb(base + "/status", "VmRSS:") / 1024.0;
    m.pss_mib += FieldKb(base + "/smaps_rollup", "Pss:") / 1024.0;
    ++m.processes;
  }
  return m;
}
Memory NginxMemory(NginxProcess& nginx) {
  std::vector<int> pids{nginx.MasterPid()};
  for (int w : nginx.Workers()) pids.push_back(w);
  return MemoryOf(pids);
}
std::string MemoryText(const Memory& m) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "RSS %.1f MiB, PSS %.1f MiB (%d processes)", m.rss_mib, m.pss_mib, m.processes);
  return buf;
}

// Polls GET / on `host` every 0.5 ms until the body is `want`; returns when it first was. After
// `limit` without it, *timed_out is set (if given) and the time returned is the deadline.
Clock::time_point FirstAnswer(int port, const std::string& host, const std::string& want,
                              std::chrono::seconds limit = std::chrono::seconds(10), bool* timed_out = nullptr) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (HttpGet(port, "/", host, 2000).body == want) return Clock::now();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  std::fprintf(stderr, "routing_bench: %s never answered \"%s\" within %lld s\n", host.c_str(), want.c_str(),
               static_cast<long long>(limit.count()));
  if (timed_out) *timed_out = true;
  return Clock::now();
}

// Route switch latency on a running router: flips `key` between `a` and `b` `n` times, timing the
// call and the first request answered by the new side. Leaves the route on `a`.
void MeasureSwitches(NginxRouter& router, int port, const std::string& key, const std::string& host,
                     const std::vector<Endpoint>& a, const std::string& a_body, const std::vector<Endpoint>& b,
                     const std::string& b_body, int n, Stats* call, Stats* traffic) {
  for (int i = 0; i < n; ++i) {
    bool to_b = i % 2 == 0;
    auto t0 = Clock::now();
    Status s = router.SetRoute(key, to_b ? b : a);
    auto t1 = Clock::now();
    if (!s.ok()) {
      std::fprintf(stderr, "routing_bench: SetRoute failed: %s\n", s.message().c_str());
      return;
    }
    bool timed_out = false;
    auto seen = FirstAnswer(port, host, to_b ? b_body : a_body, std::chrono::seconds(10), &timed_out);
    if (timed_out) return;
    call->Add(Ms(t1 - t0));
    traffic->Add(Ms(seen - t0));
  }
  if (n % 2) router.SetRoute(key, a);
}



// The naive baseline: what a route switch costs when each app is its own server block proxying to
// its backend's port and a switch rewrites that block and reloads nginx (`nginx -s reload`), as bim
// did before routes became data. A plain nginx (no Lua module) on its own prefix and port.
class NaiveNginx {
 public:
  // apps[i] = (host name, backend); starts nginx with one server block per app.
  NaiveNginx(const std::string& dir, const std::vector<std::pair<std::string, Endpoint>>& apps) : dir_(dir) {
    fs::create_directories(dir_ + "/apps");
    fs::create_directories(dir_ + "/logs");
    PickFreeLoopbackPort(&port_);
    std::ofstream conf(dir_ + "/nginx.conf");
    conf << "worker_processes 2;\npid " << dir_ << "/nginx.pid;\nerror_log " << dir_
         << "/logs/error.log warn;\nworker_shutdown_timeout 30s;\nevents { worker_connections 4096; }\n"
         << "http {\n  access_log off;\n  server_names_hash_bucket_size 128;\n"
         << "  server_names_hash_max_size 131072;\n  client_body_temp_path " << dir_ << "/logs;\n"
         << "  proxy_temp_path " << dir_ << "/logs;\n  fastcgi_temp_path " << dir_ << "/logs;\n"
         << "  uwsgi_temp_path " << dir_ << "/logs;\n  scgi_temp_path " << dir_ << "/logs;\n"
         << "  include " << dir_ << "/apps/*.conf;\n}\n";
    conf.close();
    for (size_t i = 0; i < apps.size(); ++i) WriteApp(i, apps[i].first, apps[i].second);
    hosts_.reserve(apps.size());
    for (const auto& a : apps) hosts_.push_back(a.first);
    auto t0 = Clock::now();
    std::string out;
    Status s = runner_.Run({"nginx", "-p", dir_, "-c", dir_ + "/nginx.conf"}, &out);
    if (!s.ok()) {
      std::fprintf(stderr, "routing_bench: naive nginx did not start: %s %s\n", s.message().c_str(), out.c_str());
      return;
    }
    start_ms_ = Ms(Clock::now() - t0);
    ok_ = true;
  }
  ~NaiveNginx() {
    int master = Master();
    if (master > 0) {
      std::set<int> all = Family(master);
      all.insert(master);
      kill(master, SIGQUIT);
      for (int i = 0; i < 3000 && NginxProcess::AnyAlive(all); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      for (int pid : all) kill(pid, SIGKILL);
    }
    fs::remove_all(dir_);
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }
  double start_ms() const { return start_ms_; }

  // Points app `i` at `backend`: rewrite its server block, `nginx -s reload`.
  Status Switch(size_t i, const Endpoint& backend) {
    WriteApp(i, hosts_[i], backend);
    std::string out;
    Status s = runner_.Run({"nginx", "-p", dir_, "-c", dir_ + "/nginx.conf", "-s", "reload"}, &out);
    return s.ok() ? s : s.Wrap(out);
  }
  // Waits until only the newest generation of workers is left (so switches do not overlap).
  void Settle() {
    int master = Master();
    for (int i = 0; i < 6000 && master > 0 && Family(master).size() > 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Memory Mem() {
    int master = Master();
    std::set<int> family = Family(master);
    std::vector<int> pids{master};
    pids.insert(pids.end(), family.begin(), family.end());
    return MemoryOf(pids);
  }

 private:
  void WriteApp(size_t i, const std::string& host, const Endpoint& backend) {
    std::string path = dir_ + "/apps/app" + std::to_string(i) + ".conf";
    std::ofstream f(path + ".tmp");
    f << "server {\n  listen 127.0.0.1:" << port_ << ";\n  server_name " << host
      << ";\n  location / {\n    proxy_pass http://" << backend.ToString()
      << ";\n    proxy_http_version 1.1;\n    proxy_set_header Connection \"\";\n    proxy_set_header Host $host;\n  }\n}\n";
    f.close();
    fs::rename(path + ".tmp", path);
  }
  int Master() const {
    std::ifstream in(dir_ + "/nginx.pid");
    int pid = 0;
    in >> pid;
    return pid;
  }
  // Live children of `master` (its workers, of every generation).
  static std::set<int> Family(int master) {
    std::set<int> kids;
    if (master <= 0) return kids;
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::string name = e.path().filename();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::ifstream st(e.path() / "stat");
      std::string line;
      std::getline(st, line);
      auto close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state = 0;
      int ppid = 0;
      rest >> state >> ppid;
      if (ppid == master && state != 'Z') kids.insert(std::stoi(name));
    }
    return kids;
  }

  std::string dir_;
  int port_ = 0;
  double start_ms_ = 0;
  bool ok_ = false;
  std::vector<std::string> hosts_;
  SubprocessRunner runner_;
};

// Naive switch latency: `n` switches, each timed from the start of the rewrite to the first request
// answered by the new backend, and followed by a wait until the old workers are gone. With
// `first_only`, app 0 goes back and forth between `a` and `b`; otherwise `n` different random apps
// (all on `a`) move to `b`.
void MeasureNaiveSwitches(NaiveNginx& naive, size_t apps, const Endpoint& a, const std::string& a_body,
                          const Endpoint& b, const std::string& b_body, int n, const std::vector<std::string>& hosts,
                          Stats* traffic, bool first_only = false) {
  std::mt19937 rng(7);
  std::set<size_t> moved;
  for (int i = 0; i < n; ++i) {
    size_t app = 0;
    bool to_b = true;
    if (first_only) {
      to_b = i % 2 == 0;
    } else {
      do app = rng() % apps; while (moved.count(app) && moved.size() < apps);
      moved.insert(app);
    }
    auto t0 = Clock::now();
    Status s = naive.Switch(app, to_b ? b : a);
    if (!s.ok()) {
      std::fprintf(stderr, "routing_bench: naive reload failed: %s\n", s.message().c_str());
      return;
    }
    bool timed_out = false;
    auto seen = FirstAnswer(naive.port(), hosts[app], to_b ? b_body : a_body, std::chrono::seconds(600), &timed_out);
    if (timed_out) return;
    traffic->Add(Ms(seen - t0));
    naive.Settle();
  }
}

std::vector<std::string> g_results;
// The naive baseline's nginx needs about 40 KB per server block in each of its processes, and a
// reload re-reads them all, so it is run only up to this many routes (gigabytes and minutes per
// switch beyond).
int g_naive_max = 10000;
void Result(const std::string& line) {
  std::printf("  %s\n", line.c_str());
  std::fflush(stdout);
  g_results.push_back(line);
}

// Part 1: the router alone with N routes.
void RouterAlone(int n) {
  std::printf("router alone, %d sites and routes:\n", n);
  std::string dir = (fs::temp_directory_path() / ("bim-routing-bench-" + UniqueSuffix())).string();
  NginxOptions options;
  options.prefix = dir + "/nginx";
  options.template_dir = std::string(BIM_SOURCE_DIR) + "/templates/nginx";
  int port = 0;
  PickFreeLoopbackPort(&port);
  options.listen = "127.0.0.1:" + std::to_string(port);
  options.reload_confirm_timeout = std::chrono::minutes(5);
  SubprocessRunner runner;
  BackendProcess one("one"), two("two");
  {
    NginxRouter router(options, &runner);
    std::vector<Site> sites;
    RouteTable routes;
    for (int i = 0; i < n; ++i) {
      std::string app = "app" + std::to_string(i);
      sites.push_back(Site{app, {VirtualHost{{app + ".localhost"}, app, "", "", false}}});
      routes[app] = {one.endpoint()};
    }
    auto t0 = Clock::now();
    Status s = router.Start(sites, routes);
    double start_ms = Ms(Clock::now() - t0);
    if (!s.ok()) {
      std::fprintf(stderr, "routing_bench: nginx did not start with %d routes: %s\n", n, s.message().c_str());
    } else {
      char line[256];
      std::snprintf(line, sizeof line, "%6d routes | start (write files, nginx -t, start, load routes): %.0f ms", n,
                    start_ms);
      Result(line);
      std::mt19937 rng(42);
      Stats call, traffic;
      for (int k = 0; k < 5; ++k) {
        std::string app = "app" + std::to_string(rng() % n);
        MeasureSwitches(router, port, app, app + ".localhost", {one.endpoint()}, "Hello from bim! one\n",
                        {two.endpoint()}, "Hello from bim! two\n", 10, &call, &traffic);
      }
      std::snprintf(line, sizeof line, "%6d routes | bim   switch (SetRoute call): %s", n, call.Text().c_str());
      Result(line);
      std::snprintf(line, sizeof line, "%6d routes | bim   switch -> first new answer: %s", n, traffic.Text().c_str());
      Result(line);
      std::snprintf(line, sizeof line, "%6d routes | bim   nginx memory: %s", n,
                    MemoryText(NginxMemory(router.process())).c_str());
      Result(line);
    }
    router.Stop();
  }
  {
    std::vector<std::pair<std::string, Endpoint>> apps;
    std::vector<std::string> hosts;
    for (int i = 0; i < n; ++i) {
      hosts.push_back("app" + std::to_string(i) + ".localhost");
      apps.emplace_back(hosts.back(), one.endpoint());
    }
    if (n > g_naive_max) {
      char line[256];
      std::snprintf(line, sizeof line, "%6d routes | naive: not run (above --naive-max %d: see its memory and reload time there)",
                    n, g_naive_max);
      Result(line);
    } else if (NaiveNginx naive(dir + "/naive", apps); naive.ok()) {
      char line[256];
      std::snprintf(line, sizeof line, "%6d routes | naive start (nginx with %d server blocks): %.0f ms", n, n,
                    naive.start_ms());
      Result(line);
      Stats traffic;
      MeasureNaiveSwitches(naive, n, one.endpoint(), "Hello from bim! one\n", two.endpoint(), "Hello from bim! two\n",
                           3, hosts, &traffic);
      std::snprintf(line, sizeof line, "%6d routes | naive switch (rewrite block, nginx -s reload) -> first new answer: %s",
                    n, traffic.Text().c_str());
      Result(line);
      std::snprintf(line, sizeof line, "%6d routes | naive nginx memory: %s", n, MemoryText(naive.Mem()).c_str());
      Result(line);
    }
  }
  fs::remove_all(dir);
}

// Part 2: real apps through bimd.
void RealApps(const std::vector<int>& counts) {
  std::printf("real apps (deployed through bimd, one container each):\n");
  Bimd server({"--drain-grace-ms", "2000"});
  BackendProcess other("other");
  std::vector<std::unique_ptr<AppFolder>> folders;
  NginxOptions options;
  options.prefix = server.data_dir() + "/nginx";
  options.template_dir = std::string(BIM_SOURCE_DIR) + "/templates/nginx";
  options.listen = "127.0.0.1:" + std::to_string(server.http_port());
  options.reload_confirm_timeout = std::chrono::minutes(5);
  SubprocessRunner runner;
  NginxRouter router(options, &runner);  // a second handle on bimd's nginx, for timing switches
  std::string prefix = "rb" + UniqueSuffix().substr(0, 4) + "-";
  int deployed = 0;
  for (int n : counts) {
    auto t0 = Clock::now();
    // Four deploys at a time (bimd releases different apps in parallel; much of a deploy is waiting).
    while (deployed < n) {
      std::vector<std::future<int>> batch;
      for (int j = 0; j < 4 && deployed < n; ++j, ++deployed) {
        folders.push_back(std::make_unique<AppFolder>(prefix + std::to_string(deployed),
                                                      "GREETING=" + std::to_string(deployed) + "\n"));
        std::string path = folders.back()->path();
        batch.push_back(std::async(std::launch::async, [&server, path] { return server.Bim({"deploy", path}).exit_code; }));
      }
      for (auto& f : batch)
        if (f.get() != 0) std::fprintf(stderr, "routing_bench: a deploy failed:\n%s\n", server.Log().c_str());
    }
    std::printf("  (%d apps deployed, %.0f s)\n", n, Ms(Clock::now() - t0) / 1000);
    std::string app = prefix + "0", host = app + ".localhost";
    std::vector<Endpoint> live;
    router.GetRoute(app, &live);
    Stats call, traffic;
    MeasureSwitches(router, server.http_port(), app, host, live, "Hello from bim! 0\n", {other.endpoint()},
                    "Hello from bim! other\n", 30, &call, &traffic);
    char line[256];
    std::snprintf(line, sizeof line, "%6d apps   | bim   switch -> first new answer: %s", n, traffic.Text().c_str());
    Result(line);
    std::snprintf(line, sizeof line, "%6d apps   | bim   nginx memory: %s", n,
                  MemoryText(NginxMemory(router.process())).c_str());
    Result(line);
    // The same apps behind a naive nginx: one server block per app pointing at its container.
    std::vector<std::pair<std::string, Endpoint>> naive_apps;
    std::vector<std::string> hosts;
    for (int i = 0; i < n; ++i) {
      std::vector<Endpoint> backends;
      router.GetRoute(prefix + std::to_string(i), &backends);
      hosts.push_back(prefix + std::to_string(i) + ".localhost");
      naive_apps.emplace_back(hosts.back(), backends.empty() ? DeadEndpoint() : backends[0]);
    }
    NaiveNginx naive(server.data_dir() + "/naive-bench", naive_apps);
    if (naive.ok() && !live.empty()) {
      Stats naive_traffic;
      MeasureNaiveSwitches(naive, n, live[0], "Hello from bim! 0\n", other.endpoint(), "Hello from bim! other\n", 10,
                           hosts, &naive_traffic, /*first_only=*/true);
      std::snprintf(line, sizeof line, "%6d apps   | naive switch (rewrite block, nginx -s reload) -> first new answer: %s",
                    n, naive_traffic.Text().c_str());
      Result(line);
      std::snprintf(line, sizeof line, "%6d apps   | naive nginx memory: %s", n, MemoryText(naive.Mem()).c_str());
      Result(line);
    }
  }
}

// Part 3: ready -> traffic.
void ReadyToTraffic(int deploys) {
  std::printf("ready -> traffic (%d deploys of an app that takes 800 ms to start listening):\n", deploys);
  Bimd server({"--drain-grace-ms", "1000"});
  std::string app = "rb" + UniqueSuffix().substr(0, 4) + "-ready";
  AppFolder folder(app, "GREETING=0\n");
  if (server.Bim({"deploy", folder.path()}).exit_code != 0) return;
  DockerClient docker;
  Stats latency;
  for (int i = 1; i <= deploys; ++i) {
    std::string greeting = std::to_string(i);
    folder.Write(".env", "GREETING=" + greeting + "\nSTARTUP_DELAY_MS=800\n");
    std::string release = "v" + std::to_string(i + 1);
    auto deploy = std::async(std::launch::async, [&] { return server.Bim({"deploy", folder.path()}).exit_code; });
    // The new container's own port, polled directly: when does it first answer its health check?
    int port = 0;
    for (int k = 0; k < 4000 && port == 0; ++k) {
      std::vector<ContainerInfo> found;
      docker.ListContainers({{"im.backend.bim.app", app}, {"im.backend.bim.release", release}}, false, &found);
      if (!found.empty()) port = found[0].host_port;
      if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    Clock::time_point ready{}, traffic{};
    std::thread direct([&] {
      auto deadline = Clock::now() + std::chrono::seconds(20);
      while (Clock::now() < deadline && HttpGet(port, "/healthz", "", 500).status != 200)
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      ready = Clock::now();
    });
    bool timed_out = false;
    traffic = FirstAnswer(server.http_port(), app + ".localhost", "Hello from bim! " + greeting + "\n",
                          std::chrono::seconds(30), &timed_out);
    direct.join();
    if (deploy.get() != 0 || port == 0 || timed_out) {
      std::fprintf(stderr, "routing_bench: deploy %d failed\n", i);
      continue;
    }
    latency.Add(Ms(traffic - ready));
  }
  Result("ready -> traffic (first healthy answer -> first request through nginx): " + latency.Text());
}

// Part 4: memory after many releases.
void MemoryAfterReleases(int releases) {
  std::printf("memory after %d releases of one app (bim env set, each a release):\n", releases);
  Bimd server({"--drain-grace-ms", "500"});
  std::string app = "rb" + UniqueSuffix().substr(0, 4) + "-mem";
  AppFolder folder(app, "GREETING=0\n");
  if (server.Bim({"deploy", folder.path()}).exit_code != 0) return;
  SubprocessRunner runner;
  NginxOptions options;
  options.prefix = server.data_dir() + "/nginx";
  NginxProcess nginx(options, &runner);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Memory before = NginxMemory(nginx), bimd_before = MemoryOf({server.pid()});
  std::set<int> workers = nginx.Workers();
  auto t0 = Clock::now();
  int failed = 0;
  for (int i = 1; i <= releases; ++i)
    failed += server.Bim({"env", "set", app, "N=" + std::to_string(i)}).exit_code != 0;
  double seconds = Ms(Clock::now() - t0) / 1000;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Memory after = NginxMemory(nginx), bimd_after = MemoryOf({server.pid()});
  char line[256];
  std::snprintf(line, sizeof line, "nginx before: %s; after %d releases: %s; same workers: %s", MemoryText(before).c_str(),
                releases, MemoryText(after).c_str(), nginx.Workers() == workers ? "yes (no reload)" : "no");
  Result(line);
  std::snprintf(line, sizeof line, "bimd before: RSS %.1f MiB; after: RSS %.1f MiB (%d releases in %.0f s, %d failed)",
                bimd_before.rss_mib, bimd_after.rss_mib, releases, seconds, failed);
  Result(line);
}

}  // namespace
}  // namespace bim::testing

int main(int argc, char** argv) {
  using namespace bim::testing;
  std::string routes = "10000,50000", apps = "10,100", ready = "10", releases = "200";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--routes") routes = value;
    else if (flag == "--apps") apps = value;
    else if (flag == "--ready") ready = value;
    else if (flag == "--releases") releases = value;
    else if (flag == "--naive-max") g_naive_max = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "usage: routing_bench [--routes N,...] [--apps N,...] [--ready K] [--releases R] [--naive-max N]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  std::printf("routing bench on %ld cores (figures are noisy on a shared machine)\n", sysconf(_SC_NPROCESSORS_ONLN));
  for (int n : ParseList(routes)) RouterAlone(n);
  if (!ParseList(apps).empty()) RealApps(ParseList(apps));
  for (int k : ParseList(ready)) ReadyToTraffic(k);
  for (int r : ParseList(releases)) MemoryAfterReleases(r);
  std::printf("\nrouting summary:\n");
  for (const auto& line : g_results) std::printf("  %s\n", line.c_str());
  return 0;
}
