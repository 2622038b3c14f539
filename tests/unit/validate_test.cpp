#include "core/validate.h"

#include <gtest/gtest.h>

#include <string>

namespace bim {
namespace {

using namespace std::string_view_literals;

TEST(ValidateAppNameTest, Good) {
  for (std::string_view n : {"a", "hello", "my-app", "app2", "0", "a-b-c", "x1-y2"})
    EXPECT_TRUE(ValidateAppName(n).ok()) << n;
  EXPECT_TRUE(ValidateAppName(std::string(63, 'a')).ok());
}

TEST(ValidateAppNameTest, Bad) {
  for (std::string_view n :
       {"", "-a", "a-", "-", "Hello", "HELLO", "my_app", "my.app", "a b", "a;b", "a{b", "a}b", "a\nb",
        "$app", "a\"b", "a'b", "..", "../etc", "a/b", "a\\b", "h\xD2\xBBllo", "caf\xC3\xA9", "a\tb"}) {
    Status s = ValidateAppName(n);
    EXPECT_FALSE(s.ok()) << n;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
  }
  EXPECT_FALSE(ValidateAppName(std::string(64, 'a')).ok());
}

TEST(ValidateAppNameTest, NulByteInsideStringView) {
  EXPECT_FALSE(ValidateAppName("ab\0cd"sv).ok());
  EXPECT_FALSE(ValidateAppName("abc\0"sv).ok());
}

TEST(ValidateAppNameTest, MessageIsOneLineAndNamesTheRule) {
  Status s = ValidateAppName("bad\nname\x01");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
  EXPECT_EQ(s.message().find('\x01'), std::string::npos);
  EXPECT_NE(s.message().find("a-z, 0-9"), std::string::npos) << s.message();
  EXPECT_NE(ValidateAppName("Hello").message().find("upper-case"), std::string::npos);
  EXPECT_NE(ValidateAppName(std::string(64, 'a')).message().find("63"), std::string::npos);
}

TEST(ValidateEnvKeyTest, GoodAndBad) {
  for (std::string_view k : {"A", "_", "_A1", "abc", "DATABASE_URL", "a1_B2"}) EXPECT_TRUE(ValidateEnvKey(k).ok()) << k;
  EXPECT_TRUE(ValidateEnvKey(std::string(256, 'K')).ok());
  for (std::string_view k : {"", "1A", "A-B", "A.B", "A B", "A=B", "A;", "$A", "A\n", "\xC3\x89T\xC3\x89"})
    EXPECT_FALSE(ValidateEnvKey(k).ok()) << k;
  EXPECT_FALSE(ValidateEnvKey(std::string(257, 'K')).ok());
  EXPECT_FALSE(ValidateEnvKey("AB\0C"sv).ok());
}

TEST(ValidateDomainTest, Good) {
  for (std::string_view d : {"localhost", "example.com", "a.b.c.d", "Example.COM", "xn--bcher-kva.example",
                             "1.2.3.4", "my-app.example.org", "a"})
    EXPECT_TRUE(ValidateDomain(d).ok()) << d;
  std::string label63(63, 'a');
  EXPECT_TRUE(ValidateDomain(label63 + ".com").ok());
  // 4 labels of 63 plus 3 dots = 255 > 253; 3 labels of 63 + "a" = 193.
  EXPECT_TRUE(ValidateDomain(label63 + "." + label63 + "." + label63 + ".a").ok());
}

TEST(ValidateDomainTest, Bad) {
  for (std::string_view d :
       {"", ".", "a..b", ".a.com", "a.com.", "-a.com", "a-.com", "a_b.com", "a b.com", "a.com;", "a{b}.com",
        "a.com\n", "$host", "\"a.com\"", "..", "*.example.com", "a/b", "h\xD2\xBBllo.com", "a:80"}) {
    EXPECT_FALSE(ValidateDomain(d).ok()) << d;
  }
  EXPECT_FALSE(ValidateDomain("example.com\0.evil"sv).ok());
  EXPECT_FALSE(ValidateDomain(std::string(64, 'a') + ".com").ok());
  std::string label63(63, 'a');
  EXPECT_FALSE(ValidateDomain(label63 + "." + label63 + "." + label63 + "." + label63).ok());
}

TEST(ValidateHealthPathTest, Good) {
  for (std::string_view p : {"/", "/healthz", "/api/v1/health?full=1&x=y", "/a%20b", "/~user/a.b_c-d",
                             "/p:1@x!,+"})
    EXPECT_TRUE(ValidateHealthPath(p).ok()) << p;
  EXPECT_TRUE(ValidateHealthPath("/" + std::string(1023, 'a')).ok());
}

TEST(ValidateHealthPathTest, Bad) {
  for (std::string_view p : {"", "healthz", "/a b", "/a;b", "/{x}", "/a}", "/a\nb", "/$x", "/\"q\"", "/'q'",
                             "/a\\b", "/a\tb", "/h\xD2\xBB", "/a#b", "/<x>", "/a\x7f"}) {
    Status s = ValidateHealthPath(p);
    EXPECT_FALSE(s.ok()) << p;
    EXPECT_EQ(s.message().find('\n'), std::string::npos);
  }
  EXPECT_FALSE(ValidateHealthPath("/ok\0bad"sv).ok());
  EXPECT_FALSE(ValidateHealthPath("/" + std::string(1024, 'a')).ok());
}

TEST(ValidatePortTest, Range) {
  EXPECT_TRUE(ValidatePort(1).ok());
  EXPECT_TRUE(ValidatePort(80).ok());
  EXPECT_TRUE(ValidatePort(65535).ok());
  EXPECT_FALSE(ValidatePort(0).ok());
  EXPECT_FALSE(ValidatePort(-1).ok());
  EXPECT_FALSE(ValidatePort(65536).ok());
  EXPECT_NE(ValidatePort(70000).message().find("1-65535"), std::string::npos);
}

TEST(ParseCountTest, DigitsWithinRangeOnly) {
  int64_t n = 7;
  EXPECT_TRUE(ParseCount("0", 0, 10, "limit", &n).ok());
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(ParseCount("10", 0, 10, "limit", &n).ok());
  EXPECT_EQ(n, 10);
  EXPECT_TRUE(ParseCount("007", 1, 10, "limit", &n).ok());
  EXPECT_EQ(n, 7);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "x", "11", "0x1", "1e3", "1.0", "9999999999999999999"}) {
    n = 3;
    Status s = ParseCount(bad, 1, 10, "limit", &n);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(n, 3) << "unchanged on failure: " << bad;
    EXPECT_NE(s.message().find("limit must be a number from 1 to 10"), std::string::npos) << s.message();
  }
  // 18 digits is the longest accepted; the message shows the input on one line.
  EXPECT_TRUE(ParseCount("999999999999999999", 0, INT64_MAX, "id", &n).ok());
  EXPECT_EQ(ParseCount("1\n", 0, 5, "tail", &n).message().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace bim
