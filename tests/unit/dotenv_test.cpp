#include "core/dotenv.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

EnvList MustParse(std::string_view text) {
  EnvList env;
  Status s = ParseDotenv(text, &env);
  EXPECT_TRUE(s.ok()) << s.message();
  return env;
}

Status ParseErr(std::string_view text) {
  EnvList env{{"STALE", "x"}};
  Status s = ParseDotenv(text, &env);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_TRUE(env.empty()) << "out must be empty on failure";
  return s;
}

std::string Value(const EnvList& env, const std::string& key) {
  for (const EnvVar& v : env)
    if (v.key == key) return v.value;
  ADD_FAILURE() << "no key " << key;
  return "";
}

TEST(DotenvTest, SimplePairsInOrder) {
  EnvList env = MustParse("A=1\nB=two\n_C9=x");
  EXPECT_EQ(env, (EnvList{{"A", "1"}, {"B", "two"}, {"_C9", "x"}}));
}

TEST(DotenvTest, EmptyInputAndReplacesOut) {
  EnvList env{{"OLD", "1"}};
  ASSERT_TRUE(ParseDotenv("", &env).ok());
  EXPECT_TRUE(env.empty());
  EXPECT_TRUE(MustParse("\n\n  \n").empty());
}

TEST(DotenvTest, CommentsAndBlankLines) {
  EnvList env = MustParse("# a comment\n\n   # indented comment\nA=1\n\t\nB=2 # trailing\n");
  EXPECT_EQ(env, (EnvList{{"A", "1"}, {"B", "2"}}));
}

TEST(DotenvTest, ExportPrefix) {
  EnvList env = MustParse("export A=1\nexport\tB=2\n  export   C = 3\nexport=4\n");
  EXPECT_EQ(env, (EnvList{{"A", "1"}, {"B", "2"}, {"C", "3"}, {"export", "4"}}));
}

TEST(DotenvTest, UnquotedValuesAreTrimmed) {
  EnvList env = MustParse("A =  spaced out  \nB=\t tab\t\n");
  EXPECT_EQ(Value(env, "A"), "spaced out");
  EXPECT_EQ(Value(env, "B"), "tab");
}

TEST(DotenvTest, InlineCommentNeedsLeadingBlank) {
  EnvList env = MustParse("A=a#b\nB=b #comment\nC=c\t# tab comment\nD=http://x/#frag\nE=#start\nF= # only\n");
  EXPECT_EQ(Value(env, "A"), "a#b");
  EXPECT_EQ(Value(env, "B"), "b");
  EXPECT_EQ(Value(env, "C"), "c");
  EXPECT_EQ(Value(env, "D"), "http://x/#frag");
  EXPECT_EQ(Value(env, "E"), "#start");
  EXPECT_EQ(Value(env, "F"), "");
}

TEST(DotenvTest, EmptyValues) {
  EnvList env = MustParse("A=\nB=\"\"\nC=''\nD=   \n");
  EXPECT_EQ(env, (EnvList{{"A", ""}, {"B", ""}, {"C", ""}, {"D", ""}}));
}

TEST(DotenvTest, ValueMayContainEqualsAndQuotesInside) {
  EnvList env = MustParse("A=b=c==\nB=it's\nC=say \"hi\"\n");
  EXPECT_EQ(Value(env, "A"), "b=c==");
  EXPECT_EQ(Value(env, "B"), "it's");
  EXPECT_EQ(Value(env, "C"), "say \"hi\"");
}

TEST(DotenvTest, SingleQuotesAreLiteral) {
  EnvList env = MustParse(R"(A='literal $x \n \" # not a comment')" "\n");
  EXPECT_EQ(Value(env, "A"), R"(literal $x \n \" # not a comment)");
}

TEST(DotenvTest, DoubleQuoteEscapes) {
  EnvList env = MustParse(R"(A="a\nb\tc\\d\"e\$f\rg")" "\n");
  EXPECT_EQ(Value(env, "A"), "a\nb\tc\\d\"e$f\rg");
}

TEST(DotenvTest, UnknownEscapeKeepsBackslash) {
  EnvList env = MustParse(R"(A="C:\dir\x")" "\n");
  EXPECT_EQ(Value(env, "A"), R"(C:\dir\x)");
}

TEST(DotenvTest, EscapedBackslashBeforeClosingQuote) {
  EnvList env = MustParse(R"(A="ends with \\")" "\nB=2\n");
  EXPECT_EQ(Value(env, "A"), "ends with \\");
  EXPECT_EQ(Value(env, "B"), "2");
}

TEST(DotenvTest, NoInterpolation) {
  EnvList env = MustParse("X=1\nA=$X\nB=\"${X}\"\n");
  EXPECT_EQ(Value(env, "A"), "$X");
  EXPECT_EQ(Value(env, "B"), "${X}");
}

TEST(DotenvTest, QuotedValueWithTrailingComment) {
  EnvList env = MustParse("A=\"x # y\"   # real comment\nB='z'#c\n");
  EXPECT_EQ(Value(env, "A"), "x # y");
  EXPECT_EQ(Value(env, "B"), "z");
}

TEST(DotenvTest, MultiLineQuotedValues) {
  EnvList env = MustParse(
      "KEY=\"-----BEGIN-----\nline2\n-----END-----\"\n"
      "S='one\ntwo'\n"
      "AFTER=ok\n");
  EXPECT_EQ(Value(env, "KEY"), "-----BEGIN-----\nline2\n-----END-----");
  EXPECT_EQ(Value(env, "S"), "one\ntwo");
  EXPECT_EQ(Value(env, "AFTER"), "ok");
}

TEST(DotenvTest, CrlfLineEndings) {
  EnvList env = MustParse("A=1\r\nB=two words\r\n# c\r\n\r\nC=\"x\r\ny\"\r\nD='q'\r\n");
  EXPECT_EQ(env, (EnvList{{"A", "1"}, {"B", "two words"}, {"C", "x\ny"}, {"D", "q"}}));
}

TEST(DotenvTest, ByteOrderMarkIgnored) {
  EnvList env = MustParse("\xEF\xBB\xBF" "A=1\n");
  EXPECT_EQ(env, (EnvList{{"A", "1"}}));
}

TEST(DotenvTest, DuplicateKeyReplacesInPlace) {
  EnvList env = MustParse("A=1\nB=2\nA=3\n");
  EXPECT_EQ(env, (EnvList{{"A", "3"}, {"B", "2"}}));
}

TEST(DotenvTest, InvalidKey) {
  Status s = ParseErr("GOOD=1\n\n1A=x\n");
  EXPECT_EQ(s.message(),
            ".env line 3: invalid key \"1A\" (keys are letters, digits and _, not starting with a digit)");
  EXPECT_NE(ParseErr("MY-KEY=1").message().find("line 1"), std::string::npos);
  EXPECT_NE(ParseErr("MY KEY=1").message().find("invalid key"), std::string::npos);
  EXPECT_NE(ParseErr("K\xC3\xA9Y=1").message().find("invalid key"), std::string::npos);
}

TEST(DotenvTest, MissingKey) {
  Status s = ParseErr("=secretvalue\n");
  EXPECT_NE(s.message().find(".env line 1:"), std::string::npos);
  EXPECT_EQ(s.message().find("secretvalue"), std::string::npos);
}

TEST(DotenvTest, MissingEqualsDoesNotEchoLine) {
  Status s = ParseErr("A=1\nB=2\n# x\nhunter2isMyPassword\n");
  EXPECT_NE(s.message().find(".env line 4: missing '='"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("hunter2"), std::string::npos);
}

TEST(DotenvTest, UnterminatedQuotes) {
  Status d = ParseErr("A=1\nB=\"topsecret\nmore\n");
  EXPECT_NE(d.message().find(".env line 2: unterminated double quote"), std::string::npos) << d.message();
  EXPECT_NE(d.message().find("B"), std::string::npos);
  EXPECT_EQ(d.message().find("topsecret"), std::string::npos);

  Status q = ParseErr("S='topsecret");
  EXPECT_NE(q.message().find(".env line 1: unterminated single quote"), std::string::npos) << q.message();
  EXPECT_EQ(q.message().find("topsecret"), std::string::npos);
}

TEST(DotenvTest, TextAfterClosingQuote) {
  Status s = ParseErr("A=\"top\nsecret\"trailing\n");
  EXPECT_NE(s.message().find(".env line 2:"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("secret"), std::string::npos);
  EXPECT_EQ(s.message().find("trailing"), std::string::npos);
}

TEST(DotenvTest, LineNumbersCountMultiLineValues) {
  Status s = ParseErr("A=\"x\ny\nz\"\nB=1\n2B=3\n");
  EXPECT_NE(s.message().find(".env line 5:"), std::string::npos) << s.message();
}

TEST(DotenvTest, ErrorsNeverContainValues) {
  for (const char* text : {"A=\"s3cr3t", "A='s3cr3t", "=s3cr3t", "s3cr3t", "A=\"ok\" s3cr3t"}) {
    EnvList env;
    Status s = ParseDotenv(text, &env);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.message().find("s3cr3t"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

TEST(DotenvTest, SetEnvReplacesOrAppends) {
  EnvList env{{"A", "1"}, {"B", "2"}};
  SetEnv(&env, "A", "9");
  SetEnv(&env, "C", "3");
  EXPECT_EQ(env, (EnvList{{"A", "9"}, {"B", "2"}, {"C", "3"}}));
}

TEST(DotenvTest, DigestIsOrderIndependentAndSensitive) {
  const std::string key(32, 'k');
  EnvList a{{"A", "1"}, {"B", "2"}};
  EnvList b{{"B", "2"}, {"A", "1"}};
  EXPECT_EQ(EnvDigest(a, key), EnvDigest(b, key));
  EXPECT_EQ(EnvDigest(a, key).size(), 64u);
  EXPECT_EQ(EnvDigest(a, key).find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(EnvDigest(a, key), EnvDigest({{"A", "1"}, {"B", "3"}}, key));
  EXPECT_NE(EnvDigest(a, key), EnvDigest({{"A", "1"}}, key));
  // Field boundaries matter: "AB"="" is not "A"="B".
  EXPECT_NE(EnvDigest({{"AB", ""}}, key), EnvDigest({{"A", "B"}}, key));
  EXPECT_EQ(EnvDigest({}, key), EnvDigest({}, key));
  EXPECT_NE(EnvDigest({}, key), EnvDigest({{"A", ""}}, key));
}

TEST(DotenvTest, DigestIsKeyedSoValuesCannotBeGuessedOffline) {
  EnvList env{{"PASSWORD", "1234"}};
  // Another key gives another digest: without bimd's key, a guess cannot be checked.
  EXPECT_NE(EnvDigest(env, std::string(32, 'k')), EnvDigest(env, std::string(32, 'j')));
  // It is HMAC-SHA256: the empty env is the HMAC of the empty message (the known answer for "key"),
  // no longer the bare SHA-256 of nothing (e3b0c442...), which anyone can compute.
  EXPECT_EQ(EnvDigest({}, "key"), "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
}

}  // namespace
}  // namespace bim
