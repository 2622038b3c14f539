// The "https" suite: custom domains and automatic HTTPS on the real stack. A private ACME CA (caddy's
// acme_server, see support/acme_ca.h) issues certificates over HTTP-01 to a real bimd whose nginx
// serves on the test's own loopback address, ports 80 and 443; lego is the ACME client. Clients reach
// the names with curl's --resolve equivalent and trust only the test CA's root.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "support/acme_ca.h"
#include "support/bimd_harness.h"
#include "support/load_generator.h"
#include "support/zero_downtime.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Answer {
  long status = 0;
  std::string body;
  std::string location;
  std::string hsts;  // the Strict-Transport-Security header, if any
  std::string error;
};

size_t Collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

size_t CollectHsts(char* p, size_t size, size_t n, void* user) {
  std::string line(p, size * n);
  const std::string name = "strict-transport-security:";
  std::string lower = line;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.starts_with(name)) {
    std::string value = line.substr(name.size());
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    *static_cast<std::string*>(user) = value;
  }
  return size * n;
}

// One request on a new connection: `url` is http(s)://NAME[:PORT]/..., NAME resolved to `ip`, TLS
// trusting only `ca_file`. No redirects followed, no retries.
Answer Fetch(const std::string& url, const std::string& ip, const std::string& ca_file, int timeout_ms = 5000) {
  Answer a;
  CURL* curl = curl_easy_init();
  std::string host = url.substr(url.find("://") + 3);
  host = host.substr(0, host.find('/'));
  std::string name = host.substr(0, host.find(':'));
  std::string port = host.find(':') == std::string::npos ? (url.starts_with("https") ? "443" : "80")
                                                          : host.substr(host.find(':') + 1);
  curl_slist* resolve = curl_slist_append(nullptr, (name + ":" + port + ":" + ip).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHsts);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.hsts);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
    char* location = nullptr;
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
    if (location) a.location = location;
  } else {
    a.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(resolve);
  curl_easy_cleanup(curl);
  return a;
}

// The serial number of the certificate a new handshake for `name` gets ("" on failure).
std::string ServedSerial(const std::string& name, const std::string& ip, const std::string& ca_file) {
  CURL* curl = curl_easy_init();
  curl_slist* resolve = curl_slist_append(nullptr, (name + ":443:" + ip).c_str());
  std::string body, serial;
  curl_easy_setopt(curl, CURLOPT_URL, ("https://" + name + "/").c_str());
  curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_certinfo* info = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) == CURLE_OK && info && info->num_of_certs > 0)
      for (curl_slist* s = info->certinfo[0]; s; s = s->next)
        if (std::string(s->data).starts_with("Serial Number:")) serial = s->data;
  }
  curl_slist_free_all(resolve);
  curl_easy_cleanup(curl);
  return serial;
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string id = UniqueSuffix();
    app_ = "s-" + id;
    shop_ = "shop-" + id + ".test";
    www_ = "www-" + id + ".test";
    api_ = "api-" + id + ".test";
    ip_ = PrivateLoopbackAddress({80, 443});
    ca_ = std::make_unique<AcmeCa>(std::map<std::string, std::string>{{shop_, ip_}, {www_, ip_}, {api_, ip_}});
  }

  std::vector<std::string> Flags(std::vector<std::string> extra = {}) const {
    std::vector<std::string> f = {"--http-listen",  ip_ + ":80",         "--https-listen", ip_ + ":443",
                                  "--acme-email",   "ops@example.com",   "--acme-directory", ca_->directory(),
                                  "--acme-ca-file", ca_->root_pem_path(), "--cert-check-ms", "300",
                                  "--cert-retry-ms", "500"};
    f.insert(f.end(), extra.begin(), extra.end());
    return f;
  }

  // `http`: lines for bim.toml's [http] table ("" = none).
  void Deploy(Bimd& server, const std::string& app, const std::string& greeting, const std::string& http = "") {
    AppFolder folder(app, "GREETING=" + greeting + "\n");
    if (!http.empty()) {
      std::ifstream in(folder.path() + "/bim.toml");
      std::string toml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      folder.Write("bim.toml", toml + "[http]\n" + http);
    }
    CommandResult r = server.Bim({"deploy", folder.path()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  json Domains(Bimd& server, const std::string& app) {
    CommandResult r = server.Bim({"domains", app, "--json"});
    return r.Json();
  }

  // Waits until the app's certificate is valid (and `changed_from` differs from its not_before, to
  // see a renewal). Returns the certificate JSON.
  json WaitForCertificate(Bimd& server, const std::string& app, int64_t after_not_after = 0, int seconds = 60) {
    json cert;
    Eventually(
        [&] {
          json d = Domains(server, app);
          if (!d.is_object() || !d["certificate"].is_object()) return false;
          cert = d["certificate"];
          return cert.value("state", "") == "valid" && cert.value("not_after_ms", int64_t{0}) > after_not_after;
        },
        seconds);
    return cert;
  }

  std::string Https(const std::string& name) const { return "https://" + name + "/"; }
  std::string Http(const std::string& name) const { return "http://" + name + "/"; }

  // The strict load generator's target for `name` on this test's address: HTTPS trusting only the
  // test CA's root, or plain HTTP.
  HttpTarget Target(const std::string& name, int port, bool tls, const std::string& path = "/") const {
    HttpTarget t;
    t.address = ip_;
    t.port = port;
    t.host = name;
    t.path = path;
    t.tls = tls;
    if (tls) t.ca_file = ca_->root_pem_path();
    return t;
  }

  // How many certificates bimd obtained (audit "certs.obtain" ok) for `app`, or for its API (""). The
  // CLI runs with the test's names resolving, so it also reaches an API served as one (--api-domain).
  int Obtained(Bimd& server, const std::string& app) {
    std::vector<std::string> argv = {BuildPath("bim"), "audit", "--json"};
    if (!app.empty()) argv.insert(argv.end(), {"--app", app});
    json answer = RunProcess(ca_->WithTestHosts(argv), server.CliEnv(), 60).Json();
    json entries = answer.is_object() ? answer.value("entries", json::array()) : json::array();
    int n = 0;
    for (const auto& e : entries)
      n += e.value("action", "") == "certs.obtain" && e.value("result", "") == "ok" &&
           (!app.empty() || e.value("detail", "").starts_with("API certificate"));
    return n;
  }

  std::string app_, shop_, www_, api_, ip_;
  std::unique_ptr<AcmeCa> ca_;
};

TEST_F(HttpsTest, TwoDomainsGetACertificateServedOverHttpsAndPlainHttpRedirects) {
  Bimd server(Flags());
  Deploy(server, app_, "secure", "hsts = true\n");
  CommandResult add = server.Bim({"domains", "add", app_, shop_, www_, "--json"});
  ASSERT_EQ(add.exit_code, 0) << add.err;

  json cert = WaitForCertificate(server, app_);
  ASSERT_EQ(cert.value("state", ""), "valid") << Domains(server, app_).dump() << server.Log();
  EXPECT_EQ(cert.value("source", ""), "acme");
  for (const std::string& name : {shop_, www_}) {
    Answer a = Fetch(Https(name), ip_, ca_->root_pem_path());
    EXPECT_EQ(a.status, 200) << name << ": " << a.error;
    EXPECT_EQ(a.body, "Hello from bim! secure\n");
    EXPECT_EQ(a.hsts, "max-age=31536000") << name << ": bim.toml asked for HSTS";
    Answer plain = Fetch(Http(name) + "some/path?q=1", ip_, ca_->root_pem_path());
    EXPECT_EQ(plain.status, 308) << name;
    EXPECT_EQ(plain.location, "https://" + name + "/some/path?q=1");
  }
  // The default name stays plain HTTP.
  Answer def = Fetch("http://" + app_ + ".localhost/", ip_, ca_->root_pem_path());
  EXPECT_EQ(def.status, 200);
  // The live URL is the HTTPS one now.
  json status = server.Bim({"status", app_, "--json"}).Json();
  EXPECT_EQ(status.value("url", ""), Https(shop_)) << status.dump();
  // Audited and in the history.
  std::string audit = server.Bim({"audit", "--app", app_}).out;
  EXPECT_NE(audit.find("domains.add"), std::string::npos) << audit;
  EXPECT_NE(audit.find("certs.obtain"), std::string::npos) << audit;
  CommandResult history = server.Bim({"history", app_});
  EXPECT_NE(history.out.find("domains: added"), std::string::npos) << history.out << history.err;
  // The key never leaves bimd, and is private there.
  EXPECT_EQ(add.out.find("PRIVATE KEY"), std::string::npos);
  for (const auto& entry : fs::recursive_directory_iterator(server.data_dir() + "/certs"))
    if (entry.is_regular_file())
      EXPECT_EQ(fs::status(entry.path()).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write)
          << entry.path();

  // Removing a domain takes it out of the site; the other keeps its certificate.
  ASSERT_EQ(server.Bim({"domains", "remove", app_, www_}).exit_code, 0);
  EXPECT_EQ(Fetch(Https(shop_), ip_, ca_->root_pem_path()).status, 200);
  Answer gone = Fetch(Http(www_), ip_, ca_->root_pem_path());
  EXPECT_EQ(gone.status, 404) << "a removed domain reaches no app";
}

TEST_F(HttpsTest, RenewalUnderLoadDropsNoRequest) {
  // Renew as soon as possible: every pass renews, so several certificate changes happen under load.
  Bimd server(Flags({"--cert-renew-fraction", "0.0001"}));
  Deploy(server, app_, "renewing");
  ASSERT_EQ(server.Bim({"domains", "add", app_, shop_}).exit_code, 0);
  json first = WaitForCertificate(server, app_);
  ASSERT_EQ(first.value("state", ""), "valid") << server.Log();
  std::string first_serial = ServedSerial(shop_, ip_, ca_->root_pem_path());
  ASSERT_FALSE(first_serial.empty());

  // The strict load over HTTPS (support/zero_downtime.h: a new connection per request, keep-alive
  // that never re-sends, slow requests in flight across each renewal, every request within the
  // latency bound), and plain HTTP on the default name beside it.
  ProofOptions proof;
  proof.rate_per_mode = 40;
  ZeroDowntimeProbe https(Target(shop_, 443, true), proof);
  LoadGenerator plain(Target(app_ + ".localhost", 80, false), {ConnectionMode::kNewPerRequest, 1, 40});
  https.Start();
  plain.Start();
  // Wait for at least two more certificates (each a new key and files, then a host-table change), bounded.
  int renewals = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (renewals < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    renewals = Obtained(server, app_) - 1;
  }
  // Let the slow requests started around the last renewal finish on it.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ProofReport report = https.Stop();
  LoadReport plain_report = plain.Stop();
  std::printf("[ https    ] %d renewals under load:\n%s\n%s\n", renewals, report.Summary().c_str(),
              plain_report.Summary().c_str());
  EXPECT_GE(renewals, 2) << "certificates were renewed under load";
  EXPECT_TRUE(NoDowntime(report, {"Hello from bim! renewing\n"}, false));
  EXPECT_GT(plain_report.requests, 20);
  EXPECT_EQ(plain_report.errors + plain_report.non_2xx, 0) << plain_report.Summary();
  EXPECT_EQ(Fetch(Https(shop_), ip_, ca_->root_pem_path()).status, 200);
  EXPECT_NE(ServedSerial(shop_, ip_, ca_->root_pem_path()), first_serial) << "new handshakes get the renewed certificate";
}

TEST_F(HttpsTest, ApiDomainStartsWithoutTheCaGetsItsCertificateLaterAndRenewsItUnderLoad) {
  // Without an ACME account there is nowhere to get the certificate from: refused before anything starts.
  std::string nowhere = fs::temp_directory_path().string() + "/bim-api-domain-" + UniqueSuffix();
  CommandResult refused = RunProcess({BuildPath("bimd"), "--data-dir", nowhere, "--listen", ip_ + ":1", "--api-domain", api_}, {}, 30);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--api-domain needs an ACME account for its certificate; add --acme-email ADDR"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(fs::exists(nowhere));

  // bimd --api-domain with the CA down at start: the API still starts, over TLS with a self-signed
  // certificate for the name, and `bim server` says why it is not the CA's yet.
  ca_->Stop();
  BimdApi api;
  api.listen_address = ip_;
  api.url_host = api_;
  api.tls = true;
  api.ca_file = ca_->root_pem_path();
  Bimd server(Flags({"--api-domain", api_, "--cert-renew-fraction", "0.0001"}), api);
  // The CLI with the test's names resolving to this test's address.
  auto bim = [&](std::vector<std::string> args, std::map<std::string, std::string> env) {
    args.insert(args.begin(), BuildPath("bim"));
    return RunProcess(ca_->WithTestHosts(args), env, 60);
  };
  std::map<std::string, std::string> self_signed = server.CliEnv();
  self_signed["BIM_CA_CERT"] = server.data_dir() + "/api-self-signed/self-signed.crt";
  json api_cert;
  ASSERT_TRUE(Eventually(
      [&] {
        CommandResult r = bim({"server", "--json"}, self_signed);
        api_cert = r.Json().is_object() ? r.Json().value("api_certificate", json()) : json();
        return api_cert.is_object() && api_cert.value("state", "") == "error";
      },
      30))
      << api_cert.dump() << server.Log();
  EXPECT_EQ(api_cert.value("serving", ""), "self-signed");
  EXPECT_EQ(api_cert.value("domain", ""), api_);
  EXPECT_FALSE(api_cert.value("error", "").empty());
  CommandResult human = bim({"server"}, self_signed);
  EXPECT_NE(human.out.find("API cert: " + api_ + ": serving self-signed (state error), last attempt failed: "),
            std::string::npos)
      << human.out << human.err;
  CommandResult untrusted = bim({"server", "--json"}, server.CliEnv());
  EXPECT_EQ(untrusted.exit_code, 5) << "the self-signed certificate is not the CA's: " << untrusted.out;

  // The CA is back: bimd obtains the API's certificate over HTTP-01 through its nginx and serves it
  // without a restart; `bim login https://NAME:PORT` trusting only the CA's root works.
  ca_->Start();
  ASSERT_TRUE(Eventually(
      [&] {
        CommandResult r = bim({"server", "--json"}, server.CliEnv());
        api_cert = r.Json().is_object() ? r.Json().value("api_certificate", json()) : json();
        return r.exit_code == 0 && api_cert.value("state", "") == "valid" && api_cert.value("serving", "") == "acme";
      },
      60))
      << api_cert.dump() << server.Log();
  const std::string url = "https://" + api_ + ":" + std::to_string(server.api_port());
  EXPECT_NE(server.Log().find("bim login " + url), std::string::npos) << "bimd prints the login line";
  std::string home = server.data_dir() + "-login";
  fs::create_directories(home);
  std::map<std::string, std::string> fresh = {{"HOME", home}, {"BIM_CA_CERT", ca_->root_pem_path()}};
  CommandResult login = bim({"login", url, "--token", server.token()}, fresh);
  EXPECT_EQ(login.exit_code, 0) << login.out << login.err;
  CommandResult apps = bim({"apps", "--json"}, fresh);
  EXPECT_EQ(apps.exit_code, 0) << apps.out << apps.err;
  EXPECT_TRUE(apps.Json().value("ok", false)) << apps.out;

  // Renewals (every pass here) under strict load on the API: each new handshake takes the current
  // certificate, open connections keep theirs, nothing fails or waits past the bound.
  LoadOptions bounded;
  bounded.timeout = std::chrono::milliseconds(2000);
  bounded.rate_per_second = 40;
  LoadOptions fresh_mode = bounded, keepalive_mode = bounded;
  fresh_mode.mode = ConnectionMode::kNewPerRequest;
  keepalive_mode.mode = ConnectionMode::kKeepAlive;
  HttpTarget healthz = Target(api_, server.api_port(), true, "/healthz");
  LoadGenerator new_connections(healthz, fresh_mode), keepalive(healthz, keepalive_mode);
  new_connections.Start();
  keepalive.Start();
  const int before = Obtained(server, "");
  int renewals = 0;
  auto start = std::chrono::steady_clock::now(), deadline = start + std::chrono::seconds(40);
  // At least two renewals and at least 3 s of load (a few hundred handshakes), bounded.
  while ((renewals < 2 || std::chrono::steady_clock::now() < start + std::chrono::seconds(3)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    renewals = Obtained(server, "") - before;
  }
  LoadReport a = new_connections.Stop(), b = keepalive.Stop();
  std::printf("[ https    ] API: %d renewals under load:\n%s\n%s\n", renewals, a.Summary().c_str(), b.Summary().c_str());
  EXPECT_GE(renewals, 2) << server.Log();
  for (const LoadReport* r : {&a, &b}) {
    EXPECT_GT(r->requests, 20) << r->mode;
    EXPECT_EQ(r->errors + r->non_2xx, 0) << r->Summary();  // an error includes any request over 2 s
  }
  EXPECT_GT(b.reused, 0) << b.Summary();
  EXPECT_EQ(bim({"apps", "--json"}, fresh).exit_code, 0) << "the renewed certificate is trusted too";
  fs::remove_all(home);
}

TEST_F(HttpsTest, CaDownKeepsTheAppServingShowsTheReasonAndRecoversWhenBack) {
  Bimd server(Flags());
  Deploy(server, app_, "patient");
  ca_->Stop();
  ASSERT_EQ(server.Bim({"domains", "add", app_, shop_}).exit_code, 0);
  json cert;
  ASSERT_TRUE(Eventually(
      [&] {
        json d = Domains(server, app_);
        cert = d.is_object() ? d["certificate"] : json();
        return cert.is_object() && cert.value("state", "") == "error";
      },
      30))
      << server.Log();
  EXPECT_FALSE(cert.value("error", "").empty());
  CommandResult human = server.Bim({"domains", app_});
  EXPECT_NE(human.out.find("last attempt failed"), std::string::npos) << human.out;
  CommandResult status = server.Bim({"status", app_});
  EXPECT_NE(status.out.find("Cert:     error (acme), last attempt failed: "), std::string::npos) << status.out;
  // Still serving, over plain HTTP on the new name too (no redirect without a certificate).
  Answer a = Fetch(Http(shop_), ip_, ca_->root_pem_path());
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.body, "Hello from bim! patient\n");

  ca_->Start();
  json valid = WaitForCertificate(server, app_, 0, 60);
  EXPECT_EQ(valid.value("state", ""), "valid") << server.Log();
  EXPECT_EQ(Fetch(Https(shop_), ip_, ca_->root_pem_path()).status, 200);
}

TEST_F(HttpsTest, KilledMidIssuanceRecoversAfterRestart) {
  Bimd server(Flags());
  Deploy(server, app_, "resilient");
  server.Stop();
  std::string marker = server.data_dir() + "-failpoint";
  server.Start({{"BIM_FAILPOINT", "cert.obtained"}, {"BIM_FAILPOINT_FILE", marker}});
  ASSERT_EQ(server.Bim({"domains", "add", app_, shop_}).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return fs::exists(marker); }, 60)) << "bimd reached the point after lego answered";
  server.Stop(SIGKILL);
  fs::remove(marker);
  // The app kept serving throughout (nginx is not bimd's child).
  EXPECT_EQ(Fetch(Http(shop_), ip_, ca_->root_pem_path()).status, 200);
  server.Start();
  json cert = WaitForCertificate(server, app_);
  EXPECT_EQ(cert.value("state", ""), "valid") << server.Log();
  EXPECT_EQ(Fetch(Https(shop_), ip_, ca_->root_pem_path()).status, 200);
}

TEST_F(HttpsTest, ADomainBelongsToOneAppAndBadCertificatesChangeNothing) {
  // No ACME here: certificates come from the user.
  Bimd server({"--http-listen", ip_ + ":80", "--https-listen", ip_ + ":443"});
  std::string other = "o-" + app_.substr(2);
  Deploy(server, app_, "owner");
  Deploy(server, other, "thief");
  ASSERT_EQ(server.Bim({"domains", "add", app_, shop_}).exit_code, 0);
  CommandResult steal = server.Bim({"domains", "add", other, shop_});
  EXPECT_NE(steal.exit_code, 0);
  EXPECT_NE(steal.err.find("already belongs to app " + app_), std::string::npos) << steal.err;
  CommandResult inside = server.Bim({"domains", "add", other, app_ + ".localhost"});
  EXPECT_NE(inside.exit_code, 0) << "a name inside bimd's own domain would take another app's default name";
  EXPECT_EQ(Fetch(Http(shop_), ip_, "/dev/null").body, "Hello from bim! owner\n");

  // Certificates made with openssl: one for the right name, one for another name, an expired one.
  std::string dir = server.data_dir() + "-pem";
  fs::create_directories(dir);
  auto make = [&](const std::string& stem, const std::string& cn, const std::string& days) {
    CommandResult r = RunProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                  "-nodes", "-keyout", dir + "/" + stem + ".key", "-out", dir + "/" + stem + ".crt",
                                  "-days", days, "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  make("good", shop_, "30");
  make("wrong", www_, "30");
  CommandResult backdated = RunProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                        "-nodes", "-keyout", dir + "/old.key", "-out", dir + "/old.crt", "-subj",
                                        "/CN=" + shop_, "-addext", "subjectAltName=DNS:" + shop_, "-not_before",
                                        "20200101000000Z", "-not_after", "20200201000000Z"});
  bool have_expired = backdated.exit_code == 0;  // -not_after needs OpenSSL 3.4+; older ones skip it

  struct Bad {
    std::string cert, key, why;
  };
  std::vector<Bad> bad = {{dir + "/good.crt", dir + "/wrong.key", "does not match"},
                          {dir + "/wrong.crt", dir + "/wrong.key", "does not cover " + shop_},
                          {dir + "/good.key", dir + "/good.key", "no PEM certificate"}};
  if (have_expired) bad.push_back({dir + "/old.crt", dir + "/old.key", "expired"});
  for (const auto& b : bad) {
    CommandResult r = server.Bim({"certs", "add", app_, "--cert", b.cert, "--key", b.key});
    EXPECT_EQ(r.exit_code, 2) << b.cert << " " << b.key << " (bad input)";
    EXPECT_NE(r.err.find(b.why), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("PRIVATE KEY"), std::string::npos);
    json d = Domains(server, app_);
    EXPECT_TRUE(d["certificate"].is_null()) << "nothing changed: " << d.dump();
    EXPECT_EQ(Fetch(Http(shop_), ip_, "/dev/null").status, 200) << "still serving over HTTP";
  }

  CommandResult good = server.Bim({"certs", "add", app_, "--cert", dir + "/good.crt", "--key", dir + "/good.key", "--json"});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(good.Json()["certificate"].value("source", ""), "manual");
  Answer a = Fetch(Https(shop_), ip_, dir + "/good.crt");
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.body, "Hello from bim! owner\n");
  EXPECT_EQ(Fetch(Http(shop_), ip_, "/dev/null").status, 308);
  EXPECT_EQ(a.hsts, "") << "HSTS is opt-in";
  // bim.toml [http] force_https = false: plain HTTP keeps answering on the certified name.
  Deploy(server, app_, "owner", "force_https = false\n");
  Answer plain = Fetch(Http(shop_), ip_, "/dev/null");
  EXPECT_EQ(plain.status, 200) << plain.error;
  EXPECT_EQ(plain.body, "Hello from bim! owner\n");
  EXPECT_EQ(Fetch(Https(shop_), ip_, dir + "/good.crt").status, 200);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bim::testing
