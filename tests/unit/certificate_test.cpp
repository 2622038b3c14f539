// CertificateNameCovers / FirstUncoveredName (pure). CheckCertificate is exercised with real
// certificates from openssl and a real ACME CA in the https suite.
#include "base/certificate.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

TEST(CertificateNames, ExactAndOneLabelWildcards) {
  EXPECT_TRUE(CertificateNameCovers("shop.example.com", "shop.example.com"));
  EXPECT_FALSE(CertificateNameCovers("shop.example.com", "www.example.com"));
  EXPECT_TRUE(CertificateNameCovers("*.example.com", "shop.example.com"));
  EXPECT_FALSE(CertificateNameCovers("*.example.com", "example.com"));
  EXPECT_FALSE(CertificateNameCovers("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(CertificateNameCovers("*.example.com", "badexample.com"));
  EXPECT_EQ(FirstUncoveredName({"*.example.com"}, {"a.example.com", "example.com"}), "example.com");
  EXPECT_EQ(FirstUncoveredName({"a.test", "b.test"}, {"b.test", "a.test"}), "");
}

TEST(CertificateCheck, GarbageIsRefusedWithTheReason) {
  CertificateInfo info;
  Status s = CheckCertificate("not a pem", "-----BEGIN PRIVATE KEY-----\n", 0, &info);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("no PEM certificate"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace bim
