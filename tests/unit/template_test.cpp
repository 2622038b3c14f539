#include "core/template.h"

#include <gtest/gtest.h>

#include <string>

namespace bim {
namespace {

TEST(TemplateTest, RendersVariables) {
  std::string out;
  Status s = RenderTemplate("t", "server_name {{domain}};\nproxy_pass http://{{ upstream }}:{{port}};\n",
                            {{"domain", "example.com"}, {"upstream", "bim-hello"}, {"port", "8080"}}, &out);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out, "server_name example.com;\nproxy_pass http://bim-hello:8080;\n");
}

TEST(TemplateTest, NoVariablesAndUnusedVars) {
  std::string out;
  ASSERT_TRUE(RenderTemplate("t", "plain text\n", {}, &out).ok());
  EXPECT_EQ(out, "plain text\n");
  ASSERT_TRUE(RenderTemplate("t", "x", {{"unused", "1"}}, &out).ok());
  EXPECT_EQ(out, "x");
}

TEST(TemplateTest, NoHtmlEscaping) {
  std::string out;
  ASSERT_TRUE(RenderTemplate("t", "{{v}}|{{{v}}}|{{&v}}", {{"v", "<a href=\"x\">&'</a>"}}, &out).ok());
  EXPECT_EQ(out, "<a href=\"x\">&'</a>|<a href=\"x\">&'</a>|<a href=\"x\">&'</a>");
}

TEST(TemplateTest, MissingVariableIsAnError) {
  std::string out = "untouched";
  Status s = RenderTemplate("templates/nginx/app.conf.mustache", "a\nserver_name {{domian}};\n",
                            {{"domain", "example.com"}}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("templates/nginx/app.conf.mustache"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("domian"), std::string::npos);
  EXPECT_NE(s.message().find("line 2"), std::string::npos);
  EXPECT_NE(s.message().find("domain"), std::string::npos);  // lists what is known
  EXPECT_EQ(out, "untouched");

  EXPECT_FALSE(RenderTemplate("t", "{{{raw}}}", {}, &out).ok());
  EXPECT_FALSE(RenderTemplate("t", "{{& raw}}", {}, &out).ok());
  EXPECT_FALSE(RenderTemplate("t", "{{#on}}{{inside}}{{/on}}", {{"on", "1"}}, &out).ok());
}

TEST(TemplateTest, SectionsCommentsAndPartialsAreNotVariables) {
  std::string out;
  Status s = RenderTemplate("t", "{{! a comment with { braces }}{{#tls}}ssl on;{{/tls}}{{^tls}}plain{{/tls}}{{>none}}",
                            {}, &out);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out, "plain");
  ASSERT_TRUE(RenderTemplate("t", "{{#tls}}ssl {{cert}};{{/tls}}", {{"tls", "yes"}, {"cert", "/c.pem"}}, &out).ok());
  EXPECT_EQ(out, "ssl /c.pem;");
}

TEST(TemplateTest, DelimiterChange) {
  std::string out;
  ASSERT_TRUE(RenderTemplate("t", "{{=<% %>=}}<%a%> {{literal}}", {{"a", "1"}}, &out).ok());
  EXPECT_EQ(out, "1 {{literal}}");
  Status s = RenderTemplate("t", "{{=<% %>=}}<% missing %>", {{"a", "1"}}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing"), std::string::npos);
}

TEST(TemplateTest, MalformedTemplate) {
  std::string out = "untouched";
  Status s = RenderTemplate("templates/x.mustache", "{{#x}}never closed", {{"x", "1"}}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("templates/x.mustache: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find("Unclosed section"), std::string::npos) << s.message();
  EXPECT_EQ(out, "untouched");

  EXPECT_FALSE(RenderTemplate("t", "{{/x}}", {}, &out).ok());
  EXPECT_FALSE(RenderTemplate("t", "abc {{name", {{"name", "v"}}, &out).ok());
  EXPECT_FALSE(RenderTemplate("t", "{{#a}}{{/b}}", {{"a", "1"}}, &out).ok());
}

TEST(TemplateTest, ValuesAreVerbatim) {
  std::string out;
  ASSERT_TRUE(RenderTemplate("t", "[{{v}}]", {{"v", "{{not_a_tag}} $x \\n"}}, &out).ok());
  EXPECT_EQ(out, "[{{not_a_tag}} $x \\n]");
}

}  // namespace
}  // namespace bim
