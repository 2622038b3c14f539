// CertManager's failure paths through a fake AcmeClient and a real SQLite store; LegoClient's command
// line and output summary through the fake CommandRunner. Real issuance (lego, a real ACME CA, nginx)
// is the https suite's.
#include "server/cert_manager.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "base/certificate.h"
#include "base/file_util.h"
#include "fakes.h"
#include "server/acme.h"

namespace bim {
namespace {

class FakeAcme : public AcmeClient {
 public:
  Status Obtain(const std::vector<std::string>& names, std::string* chain, std::string* key) override {
    asked.push_back(names);
    if (answer.ok()) return MakeSelfSignedCertificate(names.at(0), chain, key);  // a valid one for the name
    return answer;
  }
  std::vector<std::vector<std::string>> asked;
  Status answer = Status::Unavailable("the ACME CA refused or could not be reached: acme: error: 400 :: connection refused");
};

class CertManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-certs-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(Store::Open(dir_ + "/bim.db", std::string(32, 'k'), &store_).ok());
    App app;
    app.name = "shop";
    ASSERT_TRUE(store_->PutApp(app).ok());
    options_.certs_dir = dir_ + "/certs";
    options_.retry_min = std::chrono::milliseconds(60000);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<Store> store_;
  CertManagerOptions options_;
  FakeAcme acme_;
  int applied_ = 0;
};

TEST_F(CertManagerTest, AFailedIssuanceIsRecordedWithTheReasonAndBacksOff) {
  CertManager certs(options_, store_.get(), &acme_, [this](const std::string&) {
    ++applied_;
    return Status::OK();
  });
  certs.CheckAll();
  EXPECT_TRUE(acme_.asked.empty()) << "no domains, nothing to obtain";
  ASSERT_TRUE(store_->AddDomains("shop", {"shop.example.com", "www.example.com"}).ok());
  certs.CheckAll();
  ASSERT_EQ(acme_.asked.size(), 1u);
  EXPECT_EQ(acme_.asked[0], (std::vector<std::string>{"shop.example.com", "www.example.com"}));
  Certificate c;
  ASSERT_TRUE(store_->GetCertificate("shop", &c).ok());
  EXPECT_EQ(c.state, cert_state::kError);
  EXPECT_NE(c.error.find("connection refused"), std::string::npos) << c.error;
  EXPECT_EQ(c.attempts, 1);
  EXPECT_GT(c.next_attempt_ms, NowMillis() + 50000);
  EXPECT_EQ(applied_, 0) << "nothing changed in the proxy";
  certs.CheckAll();
  EXPECT_EQ(acme_.asked.size(), 1u) << "backing off: no second attempt before next_attempt_ms";
  // A domain change is a new request: it is tried at once.
  ASSERT_TRUE(store_->AddDomains("shop", {"api.example.com"}).ok());
  certs.CheckAll();
  EXPECT_EQ(acme_.asked.size(), 2u);
  ASSERT_TRUE(store_->GetCertificate("shop", &c).ok());
  EXPECT_EQ(c.attempts, 2);
}

TEST_F(CertManagerTest, TheApiDomainGetsItsOwnCertificateRecordFilesAndApplyCallback) {
  options_.api_domain = "api.example.com";
  options_.api_certs_dir = dir_ + "/api-certs";
  CertManager certs(options_, store_.get(), &acme_, [this](const std::string&) {
    ++applied_;
    return Status::OK();
  });
  std::vector<std::string> served;
  certs.SetApiApply([&](const std::string& cert, const std::string& key) {
    served.push_back(cert);
    return std::filesystem::exists(key) ? Status::OK() : Status::NotFound(key);
  });
  Certificate c;
  EXPECT_TRUE(certs.ApiCertificate(&c).IsNotFound());
  // The CA is down: the reason is recorded, nothing is served, the apps' records are untouched.
  certs.CheckAll();
  ASSERT_EQ(acme_.asked.size(), 1u);
  EXPECT_EQ(acme_.asked[0], std::vector<std::string>{"api.example.com"});
  ASSERT_TRUE(certs.ApiCertificate(&c).ok());
  EXPECT_EQ(c.state, cert_state::kError);
  EXPECT_NE(c.error.find("connection refused"), std::string::npos) << c.error;
  EXPECT_TRUE(served.empty());
  EXPECT_TRUE(store_->GetCertificate("shop", &c).IsNotFound());
  // The CA answers (after the backoff): the certificate's files are written under api_certs_dir and served.
  acme_.answer = Status::OK();
  ASSERT_TRUE(store_->SetMeta("api_certificate", "").ok());  // as if the backoff had passed
  certs.CheckAll();
  ASSERT_TRUE(certs.ApiCertificate(&c).ok());
  EXPECT_EQ(c.state, cert_state::kValid);
  EXPECT_EQ(c.names, std::vector<std::string>{"api.example.com"});
  ASSERT_EQ(served.size(), 1u);
  EXPECT_EQ(served[0], c.cert_path);
  EXPECT_EQ(c.cert_path.rfind(options_.api_certs_dir + "/", 0), 0u) << c.cert_path;
  EXPECT_EQ(applied_, 0) << "no app's site changed";
  // Not due yet (2/3 of its lifetime): no new request.
  certs.CheckAll();
  EXPECT_EQ(acme_.asked.size(), 2u);
}

TEST_F(CertManagerTest, UploadsAreCheckedBeforeAnythingChanges) {
  CertManager certs(options_, store_.get(), nullptr, [this](const std::string&) {
    ++applied_;
    return Status::OK();
  });
  Certificate c;
  EXPECT_EQ(certs.AddManual("shop", "x", "y", &c).code(), Code::kFailedPrecondition) << "no domain yet";
  ASSERT_TRUE(store_->AddDomains("shop", {"shop.example.com"}).ok());
  Status s = certs.AddManual("shop", "not a certificate", "not a key", &c);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(store_->GetCertificate("shop", &c).ok());
  EXPECT_EQ(applied_, 0);
  EXPECT_FALSE(std::filesystem::exists(options_.certs_dir + "/shop") &&
               !std::filesystem::is_empty(options_.certs_dir + "/shop"));
}

TEST(LegoClientTest, RunsLegoWithoutAShellAndSummarisesItsVerdict) {
  fakes::FakeRunner runner;
  AcmeOptions options;
  options.email = "ops@example.com";
  options.directory = "https://ca.internal/dir";
  options.ca_file = "/d/root.pem";
  options.state_dir = "/tmp/bim-lego-test-never-created/acme";
  options.challenge_listen = "127.0.0.1:4020";
  LegoClient lego(options, &runner);
  std::vector<std::string> argv = lego.Command({"a.example.com", "b.example.com"});
  auto has = [&](const std::string& s) { return std::find(argv.begin(), argv.end(), s) != argv.end(); };
  EXPECT_TRUE(has("LEGO_CA_CERTIFICATES=/d/root.pem"));
  EXPECT_TRUE(has("https://ca.internal/dir"));
  EXPECT_TRUE(has("127.0.0.1:4020"));
  EXPECT_TRUE(has("a.example.com") && has("b.example.com"));
  EXPECT_EQ(argv.back(), "run");

  std::string output =
      "2026/11/27 11:47:39 [INFO] [a.example.com] acme: Could not find solver for: tls-alpn-01\n"
      "2026/11/27 11:47:40 [INFO] [a.example.com] acme: Trying to solve HTTP-01\n"
      "2026/11/27 11:47:41 Could not obtain certificates:\n"
      "\terror: one or more domains had a problem:\n"
      "[a.example.com] acme: error: 403 :: urn:ietf:params:acme:error:unauthorized :: Invalid response\n";
  EXPECT_EQ(SummarizeLegoOutput(output),
            "[a.example.com] acme: error: 403 :: urn:ietf:params:acme:error:unauthorized :: Invalid response");
}

}  // namespace
}  // namespace bim
