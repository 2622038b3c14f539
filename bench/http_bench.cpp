// HTTP flood benchmark: prints, for each flood against a real bimd (default limits, one deployed app
// on the real dockerd), the admin's response times, the app's traffic through nginx and bimd's peak
// RSS, side by side with the same figures without a flood. Asserts nothing; bounded in time and
// connections; cleans up everything it starts (the harness removes bimd, its nginx, containers and
// images).
//
//   build/http_bench [SECONDS_PER_SCENARIO]      (bench/http_bench.sh, `make bench`)
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <vector>

#include "support/bimd_harness.h"
#include "support/http_flood.h"

using namespace bim::testing;

namespace {

// Resets the kernel's peak-RSS counter of `pid` (VmHWM), so each scenario reports its own peak.
void ResetPeakRss(int pid) { std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5"; }

struct Row {
  std::string scenario;
  std::vector<double> admin_ms;
  int admin_failures = 0;
  int app_requests = 0;
  int app_failures = 0;
  long peak_rss_kib = 0;
  std::string flood;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Runs `floods` for `seconds` while timing the admin (GET /v1/apps every 100 ms, new connection
// each) and the app through nginx.
Row Measure(const std::string& name, Bimd& server, const std::string& app, const std::vector<FloodSpec>& floods,
            int seconds) {
  Row row;
  row.scenario = name;
  ResetPeakRss(server.pid());
  std::vector<std::unique_ptr<Flood>> running;
  for (const FloodSpec& spec : floods) running.push_back(std::make_unique<Flood>(spec));
  if (!floods.empty()) std::this_thread::sleep_for(std::chrono::seconds(1));  // let the floods build up
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    TimedAnswer a = TimedRequest(server.api_port(), "GET", "/v1/apps", server.token());
    row.admin_ms.push_back(a.ms);
    if (a.status != 200) ++row.admin_failures;
    ++row.app_requests;
    if (server.Get(app, "/").status != 200) ++row.app_failures;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  row.peak_rss_kib = PeakRssKiB(server.pid());
  for (auto& f : running) {
    FloodReport r = f->Stop();
    row.flood += (row.flood.empty() ? "" : "; ") + r.Describe();
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::max(2, std::atoi(argv[1])) : 8;
  Bimd server;  // bimd's defaults: the limits README lists
  std::string app = "hb-" + UniqueSuffix();
  AppFolder folder(app, "");
  CommandResult deployed = server.Bim({"deploy", folder.path()}, 300);
  if (deployed.exit_code != 0) {
    std::fprintf(stderr, "http_bench: deploying the app failed: %s%s\n", deployed.out.c_str(), deployed.err.c_str());
    return 1;
  }
  std::string error;
  std::string tenant = CreateApiToken(server.api_port(), server.token(), "bench-tenant", app, &error);
  if (tenant.empty()) {
    std::fprintf(stderr, "http_bench: cannot create the tenant's token: %s\n", error.c_str());
    return 1;
  }
  const int port = server.api_port();

  FloodSpec slow = SlowHeadersFlood(port, 1500, 500, 8000);  // above the default --max-connections (1024)
  FloodSpec big = HugeBodyFlood(port, 200, "POST /v1/tokens", "");
  FloodSpec chunked = ChunkedBodyFlood(port, 200, "POST /v1/apps/" + app + "/env", tenant);
  FloodSpec requests = RequestFlood(port, 200, Head("GET /v1/apps/" + app, tenant));
  FloodSpec logs = RequestFlood(port, 100, Head("GET /v1/apps/" + app + "/logs?follow=1&tail=1", tenant));
  FloodSpec deploys = RequestFlood(port, 100, Head("POST /v1/apps/" + app + "/deploy", tenant,
                                                  {"Content-Type: multipart/form-data; boundary=b", "Content-Length: 100000"}));

  std::vector<Row> rows;
  rows.push_back(Measure("no flood (baseline)", server, app, {}, seconds));
  rows.push_back(Measure("1500 slow-header conns", server, app, {slow}, seconds));
  rows.push_back(Measure("200 x 1 GB bodies, no token", server, app, {big}, seconds));
  rows.push_back(Measure("200 chunked bodies (tenant)", server, app, {chunked}, seconds));
  rows.push_back(Measure("tenant: 200 reqs+100 logs-f+100 deploys", server, app, {requests, logs, deploys}, seconds));
  rows.push_back(Measure("all of the above at once", server, app, {slow, big, chunked, requests, logs, deploys}, seconds));

  std::printf("\nbimd under HTTP floods (default limits, %d s per row, admin GET /v1/apps every 100 ms on a new "
              "connection)\n\n",
              seconds);
  std::printf("%-42s %10s %10s %10s %8s %12s %14s\n", "scenario", "admin p50", "admin p99", "admin max", "admin", "app via",
              "bimd peak");
  std::printf("%-42s %10s %10s %10s %8s %12s %14s\n", "", "ms", "ms", "ms", "failed", "nginx ok", "RSS MiB");
  for (const Row& r : rows) {
    std::printf("%-42s %10.1f %10.1f %10.1f %8d %6d/%-5d %14.1f\n", r.scenario.c_str(), Percentile(r.admin_ms, 0.5),
                Percentile(r.admin_ms, 0.99), Percentile(r.admin_ms, 1.0), r.admin_failures,
                r.app_requests - r.app_failures, r.app_requests, static_cast<double>(r.peak_rss_kib) / 1024.0);
  }
  std::printf("\nflood clients' view (HTTP status: answers; 0 = closed without an answer):\n");
  for (const Row& r : rows)
    if (!r.flood.empty()) std::printf("  %s: %s\n", r.scenario.c_str(), r.flood.c_str());
  server.Bim({"destroy", app, "--yes"});
  return 0;
}
