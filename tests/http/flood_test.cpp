// The `http` suite, part 2: floods against a real bimd (with its nginx and a deployed app on the
// real dockerd). Each flood must be refused or contained while it runs: the admin's requests keep
// answering within 1 s, another app keeps serving through nginx, and bimd's peak RSS stays under
// kRssBoundKiB.
#include <future>

#include "http/http_suite.h"

namespace bim::testing {
namespace {

using nlohmann::json;

// bimd's peak resident memory during every flood below (it idles at ~10-15 MiB).
constexpr long kRssBoundKiB = 96 << 10;
constexpr double kAdminBoundMs = 1000;

class HttpFloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Small caps, so the floods reach them quickly; --max-connections below the slow flood's size.
    server_ = std::make_unique<Bimd>(std::vector<std::string>{
        "--read-timeout", "30", "--header-timeout-ms", "2000", "--max-connections", "200",
        "--max-requests-per-token", "4", "--max-log-streams-per-token", "2", "--max-releases-per-token", "2",
        "--max-streams", "32"});
    victim_ = "v-" + UniqueSuffix();
    victim_folder_ = std::make_unique<AppFolder>(victim_, "A=1\n");
  }

  // Deploys the victim app and `more` at the same time (the suite's time is mostly deploys).
  void DeployVictimAnd(const std::vector<const AppFolder*>& more) {
    std::vector<const AppFolder*> folders = {victim_folder_.get()};
    folders.insert(folders.end(), more.begin(), more.end());
    std::vector<std::future<CommandResult>> deploys;
    for (const AppFolder* f : folders)
      deploys.push_back(std::async(std::launch::async, [this, f] { return server_->Bim({"deploy", f->path()}, 180); }));
    for (auto& d : deploys) {
      CommandResult r = d.get();
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(server_->Get(victim_).status, 200);
  }

  void TearDown() override {
    if (!HasFailure()) return;
    // bimd's log without the floods' refusals, which would drown the rest.
    std::string log = server_->Log(), kept;
    for (size_t start = 0, nl; start < log.size(); start = nl + 1) {
      nl = log.find('\n', start);
      if (nl == std::string::npos) nl = log.size();
      std::string line = log.substr(start, nl - start);
      if (line.find("-> 4") == std::string::npos && line.find("bimd: refused") == std::string::npos) kept += line + "\n";
    }
    std::printf("bimd's log (refusals left out):\n%s\n", kept.substr(kept.size() > 20000 ? kept.size() - 20000 : 0).c_str());
  }

  // Checks what a probe saw during a flood, and bimd's memory.
  void ExpectServiceHeld(const ServiceProbe& probe) {
    EXPECT_GE(probe.admin_requests, 5);
    EXPECT_EQ(probe.admin_failures, 0) << probe.admin_worst;
    EXPECT_LT(probe.admin_max_ms, kAdminBoundMs) << "slowest admin request: " << probe.admin_worst;
    EXPECT_GE(probe.app_requests, 5);
    EXPECT_EQ(probe.app_failures, 0) << "app " << victim_ << " stopped serving during the flood";
    long peak = PeakRssKiB(server_->pid());
    EXPECT_GT(peak, 0);
    EXPECT_LT(peak, kRssBoundKiB) << "bimd's peak RSS";
    std::printf("[ flood    ] admin: %d requests, slowest %.1f ms (%s); app: %d requests; bimd peak RSS %ld KiB\n",
                probe.admin_requests, probe.admin_max_ms, probe.admin_worst.substr(0, 120).c_str(), probe.app_requests,
                peak);
  }

  std::unique_ptr<Bimd> server_;
  std::string victim_;
  std::unique_ptr<AppFolder> victim_folder_;
};

TEST_F(HttpFloodTest, UnauthenticatedFloodsAreContained) {
  DeployVictimAnd({});
  if (HasFailure()) return;
  const int port = server_->api_port();
  // 300 connections trickling header bytes (more than --max-connections), reconnecting when dropped.
  FloodSpec slow = SlowHeadersFlood(port, 300, 250, 4000);
  // Oversized bodies, announced and then actually sent, at routes that take none this large.
  FloodSpec big = HugeBodyFlood(port, 40, "POST /v1/tokens", "");
  // Chunked bodies outside the deploy route, and unauthenticated chunked deploys.
  FloodSpec chunked = ChunkedBodyFlood(port, 40, "POST /v1/apps/" + victim_ + "/env", "");
  FloodSpec deploy = ChunkedBodyFlood(port, 40, "POST /v1/apps/" + victim_ + "/deploy", "bim_guess",
                                      {"Content-Type: multipart/form-data; boundary=x"});

  Flood slow_flood(slow);
  ASSERT_TRUE(slow_flood.WaitOpen(150, 10)) << "the slow flood could not open its connections";
  Flood big_flood(big), chunked_flood(chunked), deploy_flood(deploy);
  ServiceProbe probe(*server_, victim_);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  probe.Stop();
  FloodReport s = slow_flood.Stop(), b = big_flood.Stop(), c = chunked_flood.Stop(), d = deploy_flood.Stop();
  std::printf("[ flood    ] slow: %s\n[ flood    ] big: %s\n[ flood    ] chunked: %s\n[ flood    ] deploy: %s\n",
              s.Describe().c_str(), b.Describe().c_str(), c.Describe().c_str(), d.Describe().c_str());
  ExpectServiceHeld(probe);
  // Slow clients were dropped (evicted at the cap or cut at the 2 s header deadline) and came back:
  // far more connections than the flood holds at once, none of them ever served.
  EXPECT_GT(s.connects, slow.connections + 100) << s.Describe();
  EXPECT_EQ(s.Answers(200), 0);
  // Every body flood was refused on its head, never served.
  EXPECT_GT(b.Answers(413), 10) << b.Describe();
  EXPECT_GT(c.Answers(411), 10) << c.Describe();
  EXPECT_GT(d.Answers(401), 10) << d.Describe();
  for (const FloodReport* r : {&b, &c, &d}) EXPECT_EQ(r->Answers(200), 0) << r->Describe();
  // And bimd is its usual self afterwards; its counters say how the slow clients were dropped.
  TimedAnswer after = TimedRequest(port, "GET", "/v1/server", server_->token());
  EXPECT_EQ(after.status, 200) << after.error;
  json api = json::parse(after.body, nullptr, false).value("api", json::object());
  std::printf("[ flood    ] bimd's connections: %s\n", api.dump().c_str());
  EXPECT_GT(api.value("evicted_connections", 0LL) + api.value("header_timeouts", 0LL), 100) << api.dump();
}

TEST_F(HttpFloodTest, TenantFloodsAreCappedPerToken) {
  const int port = server_->api_port();
  std::string tenant_app = "t-" + UniqueSuffix();
  AppFolder tenant_folder(tenant_app, "B=2\n");
  DeployVictimAnd({&tenant_folder});
  if (HasFailure()) return;
  std::string tenant = CreateToken(*server_, "tenant-" + UniqueSuffix(), tenant_app);
  ASSERT_FALSE(tenant.empty());

  // 1. `logs -f` streams: two per token, the third is refused; the admin is not limited by them.
  std::string logs = Head("GET /v1/apps/" + tenant_app + "/logs?follow=1&tail=1", tenant);
  OpenConnection s1(port, logs), s2(port, logs);
  EXPECT_EQ(s1.status(), 200) << s1.answer();
  EXPECT_EQ(s2.status(), 200) << s2.answer();
  RawAnswer third = RawExchange(port, logs, 3000, true);
  EXPECT_EQ(third.Status(), 429) << third.bytes;
  EXPECT_NE(third.bytes.find("log streams"), std::string::npos) << third.bytes;
  OpenConnection admin_logs(port, Head("GET /v1/apps/" + tenant_app + "/logs?follow=1&tail=1", server_->token()));
  EXPECT_EQ(admin_logs.status(), 200) << admin_logs.answer();
  // 2. Releases: two uploads in progress (bodies trickling) hold the token's two places; a third
  // deploy, or an env change, is refused at once instead of queueing behind them.
  std::string upload = Head("POST /v1/apps/" + tenant_app + "/deploy", tenant,
                            {"Content-Type: multipart/form-data; boundary=BB", "Content-Length: 100000"});
  OpenConnection u1(port, upload + "--BB\r\n", false), u2(port, upload + "--BB\r\n", false);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  RawAnswer deploy3 = RawExchange(port, upload, 3000, true);
  EXPECT_EQ(deploy3.Status(), 429) << deploy3.bytes;
  EXPECT_NE(deploy3.bytes.find("releases"), std::string::npos) << deploy3.bytes;
  std::string env = R"({"set":[{"key":"C","value":"3"}]})";
  RawAnswer env3 = RawExchange(port, Head("POST /v1/apps/" + tenant_app + "/env", tenant,
                                          {"Content-Length: " + std::to_string(env.size())}) + env, 3000, true);
  EXPECT_EQ(env3.Status(), 429) << env3.bytes;

  // 3. Many short requests at once from the tenant: some are served, the rest refused with 429,
  // while the admin and the other app see no difference.
  FloodSpec requests = RequestFlood(port, 60, Head("GET /v1/apps/" + tenant_app, tenant));
  // More log streams and deploys on top, all refused (the token's places are all held above).
  FloodSpec streams = RequestFlood(port, 30, logs);
  FloodSpec deploys = RequestFlood(port, 30, upload);
  Flood request_flood(requests), stream_flood(streams), deploy_flood(deploys);
  ServiceProbe probe(*server_, victim_);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  probe.Stop();
  FloodReport r = request_flood.Stop(), st = stream_flood.Stop(), de = deploy_flood.Stop();
  std::printf("[ flood    ] requests: %s\n[ flood    ] streams: %s\n[ flood    ] deploys: %s\n", r.Describe().c_str(),
              st.Describe().c_str(), de.Describe().c_str());
  ExpectServiceHeld(probe);
  EXPECT_GT(r.Answers(200), 10) << r.Describe();
  EXPECT_GT(r.Answers(429), 10) << r.Describe();
  EXPECT_GT(st.Answers(429), 10) << st.Describe();
  EXPECT_EQ(st.Answers(200), 0) << "a log stream beyond the cap was admitted: " << st.Describe();
  EXPECT_GT(de.Answers(429), 10) << de.Describe();

  // A closed stream gives its place back (bimd notices at its next heartbeat, within ~2-4 s).
  s1.Close();
  bool reopened = Eventually([&] { return RawExchange(port, logs, 3000, true).Status() == 200; }, 10);
  EXPECT_TRUE(reopened) << "a closed log stream never gave its place back";
  // The tenant's uploads end; its places come back and the token works as before.
  u1.Close();
  u2.Close();
  std::string garbage = Head("POST /v1/apps/" + tenant_app + "/deploy", tenant,
                             {"Content-Type: multipart/form-data; boundary=BB", "Content-Length: 7"}) + "garbage";
  bool admitted = Eventually([&] {
    // A malformed upload gets past the caps and fails on its body: 400, not 429.
    return RawExchange(port, garbage, 3000, true).Status() == 400;
  }, 8);
  EXPECT_TRUE(admitted);
  EXPECT_EQ(TimedRequest(port, "GET", "/v1/apps/" + tenant_app, tenant).status, 200);
}

}  // namespace
}  // namespace bim::testing
