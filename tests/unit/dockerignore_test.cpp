#include "core/dockerignore.h"

#include <gtest/gtest.h>

#include <string>

namespace bim {
namespace {

DockerIgnore MustParse(std::string_view text) {
  DockerIgnore di;
  Status s = DockerIgnore::Parse(text, &di);
  EXPECT_TRUE(s.ok()) << s.message();
  return di;
}

TEST(DockerIgnoreTest, EmptyExcludesNothing) {
  DockerIgnore di;
  EXPECT_FALSE(di.Excludes("a"));
  EXPECT_FALSE(di.HasExceptions());
  DockerIgnore parsed = MustParse("");
  EXPECT_FALSE(parsed.Excludes("Dockerfile"));
}

TEST(DockerIgnoreTest, StarStaysInOneSegment) {
  DockerIgnore di = MustParse("*.log\n");
  EXPECT_TRUE(di.Excludes("a.log"));
  EXPECT_TRUE(di.Excludes(".log"));
  EXPECT_FALSE(di.Excludes("a.log.txt"));
  EXPECT_FALSE(di.Excludes("dir/a.log"));  // Docker, unlike git, anchors patterns at the root
}

TEST(DockerIgnoreTest, DoubleStarAnyDepth) {
  DockerIgnore di = MustParse("**/*.tmp\n");
  EXPECT_TRUE(di.Excludes("a.tmp"));
  EXPECT_TRUE(di.Excludes("x/a.tmp"));
  EXPECT_TRUE(di.Excludes("x/y/z/a.tmp"));
  EXPECT_FALSE(di.Excludes("a.tmpx"));
  EXPECT_FALSE(di.Excludes("x/a.txt"));
}

TEST(DockerIgnoreTest, DoubleStarInMiddleAndEnd) {
  DockerIgnore mid = MustParse("a/**/b");
  EXPECT_TRUE(mid.Excludes("a/b"));
  EXPECT_TRUE(mid.Excludes("a/x/b"));
  EXPECT_TRUE(mid.Excludes("a/x/y/b"));
  EXPECT_TRUE(mid.Excludes("a/x/b/c"));  // via the parent a/x/b
  EXPECT_FALSE(mid.Excludes("a/xb"));
  EXPECT_FALSE(mid.Excludes("b"));

  DockerIgnore end = MustParse("dir/**");
  EXPECT_TRUE(end.Excludes("dir/x"));
  EXPECT_TRUE(end.Excludes("dir/x/y"));
  EXPECT_FALSE(end.Excludes("dir"));  // as in moby: "dir/**" is a prefix match on "dir/"
  EXPECT_FALSE(end.Excludes("dirx"));

  DockerIgnore all = MustParse("**");
  EXPECT_TRUE(all.Excludes("a"));
  EXPECT_TRUE(all.Excludes("a/b/c"));

  DockerIgnore nm = MustParse("**/node_modules");
  EXPECT_TRUE(nm.Excludes("node_modules"));
  EXPECT_TRUE(nm.Excludes("node_modules/x/y.js"));
  EXPECT_TRUE(nm.Excludes("web/node_modules/y.js"));
  EXPECT_FALSE(nm.Excludes("web/my_node_modules"));
}

TEST(DockerIgnoreTest, TrailingSlashAndLeadingSlashAreCleaned) {
  DockerIgnore di = MustParse("build/\n/abs\n./rel/../other//dir/\n");
  EXPECT_TRUE(di.Excludes("build"));
  EXPECT_TRUE(di.Excludes("build/out/app.o"));
  EXPECT_FALSE(di.Excludes("src/build"));
  EXPECT_TRUE(di.Excludes("abs"));
  EXPECT_TRUE(di.Excludes("abs/file"));
  EXPECT_FALSE(di.Excludes("x/abs"));
  EXPECT_TRUE(di.Excludes("other/dir/f"));
  EXPECT_FALSE(di.Excludes("rel"));
}

TEST(DockerIgnoreTest, ParentDirectoryExcludesChildren) {
  DockerIgnore di = MustParse("a/b\n");
  EXPECT_TRUE(di.Excludes("a/b"));
  EXPECT_TRUE(di.Excludes("a/b/c"));
  EXPECT_TRUE(di.Excludes("a/b/c/d.txt"));
  EXPECT_FALSE(di.Excludes("a"));
  EXPECT_FALSE(di.Excludes("a/c"));
  EXPECT_FALSE(di.Excludes("a/bc"));
}

TEST(DockerIgnoreTest, ExceptionsReinclude) {
  DockerIgnore di = MustParse("*.log\n!keep.log\n");
  EXPECT_TRUE(di.HasExceptions());
  EXPECT_TRUE(di.Excludes("other.log"));
  EXPECT_FALSE(di.Excludes("keep.log"));
  EXPECT_FALSE(di.Excludes("main.cpp"));
}

TEST(DockerIgnoreTest, LastMatchWins) {
  DockerIgnore di = MustParse("!keep.log\n*.log\n");
  EXPECT_TRUE(di.Excludes("keep.log"));

  DockerIgnore again = MustParse("*.log\n!*.log\nimportant.log\n");
  EXPECT_TRUE(again.Excludes("important.log"));
  EXPECT_FALSE(again.Excludes("other.log"));
}

TEST(DockerIgnoreTest, ExceptionInsideExcludedDirectory) {
  DockerIgnore di = MustParse("docs\n!docs/README.md\n");
  EXPECT_TRUE(di.HasExceptions());
  EXPECT_TRUE(di.Excludes("docs"));
  EXPECT_TRUE(di.Excludes("docs/other.md"));
  EXPECT_FALSE(di.Excludes("docs/README.md"));

  // An exception naming a directory re-includes what is under it.
  DockerIgnore star = MustParse("*\n!src\n!Dockerfile\n");
  EXPECT_TRUE(star.Excludes("secrets.txt"));
  EXPECT_FALSE(star.Excludes("src"));
  EXPECT_FALSE(star.Excludes("src/main.cpp"));
  EXPECT_FALSE(star.Excludes("Dockerfile"));
}

TEST(DockerIgnoreTest, CommentsBlankLinesAndWhitespace) {
  DockerIgnore di = MustParse("# *.md is not a pattern\n\n   \n  *.log  \r\n\t.git\t\n");
  EXPECT_FALSE(di.Excludes("README.md"));
  EXPECT_FALSE(di.Excludes("# *.md is not a pattern"));
  EXPECT_TRUE(di.Excludes("x.log"));
  EXPECT_TRUE(di.Excludes(".git/config"));
  EXPECT_FALSE(di.HasExceptions());
}

TEST(DockerIgnoreTest, QuestionMark) {
  DockerIgnore di = MustParse("a?c\n");
  EXPECT_TRUE(di.Excludes("abc"));
  EXPECT_TRUE(di.Excludes("a.c"));
  EXPECT_FALSE(di.Excludes("ac"));
  EXPECT_FALSE(di.Excludes("abbc"));
  EXPECT_FALSE(di.Excludes("a/c"));
  EXPECT_TRUE(di.Excludes("a\xC3\xA4" "c"));  // one rune, two bytes
}

TEST(DockerIgnoreTest, CharacterClasses) {
  DockerIgnore di = MustParse("[a-c]x\nfile[0-9].txt\n[^z]y\n");
  EXPECT_TRUE(di.Excludes("ax"));
  EXPECT_TRUE(di.Excludes("cx"));
  EXPECT_FALSE(di.Excludes("dx"));
  EXPECT_FALSE(di.Excludes("Ax"));
  EXPECT_TRUE(di.Excludes("file7.txt"));
  EXPECT_FALSE(di.Excludes("filex.txt"));
  EXPECT_TRUE(di.Excludes("ay"));
  EXPECT_FALSE(di.Excludes("zy"));
}

TEST(DockerIgnoreTest, BackslashEscapes) {
  DockerIgnore di = MustParse("\\*x\nq\\[1\\]\n");
  EXPECT_TRUE(di.Excludes("*x"));
  EXPECT_FALSE(di.Excludes("ax"));
  EXPECT_TRUE(di.Excludes("q[1]"));
}

TEST(DockerIgnoreTest, RegexCharactersAreLiteral) {
  DockerIgnore di = MustParse("a.b\n(x)+{y}|$\n");
  EXPECT_TRUE(di.Excludes("a.b"));
  EXPECT_FALSE(di.Excludes("axb"));
  EXPECT_TRUE(di.Excludes("(x)+{y}|$"));
}

TEST(DockerIgnoreTest, PathsAreCleaned) {
  DockerIgnore di = MustParse("build\n");
  EXPECT_TRUE(di.Excludes("./build/x"));
  EXPECT_TRUE(di.Excludes("build/"));
  EXPECT_TRUE(di.Excludes("src/../build/x"));
}

TEST(DockerIgnoreTest, MalformedPatternNamesLine) {
  DockerIgnore di = MustParse("keep-me\n");
  Status s = DockerIgnore::Parse("*.log\n# ok\n[a-\n", &di);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find(".dockerignore line 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[a-"), std::string::npos);
  EXPECT_TRUE(di.Excludes("keep-me"));  // unchanged on failure

  for (std::string_view bad : {"[", "[]", "[z-a]", "abc\\", "!", "  !  ", "[^]"}) {
    DockerIgnore tmp;
    EXPECT_FALSE(DockerIgnore::Parse(bad, &tmp).ok()) << bad;
  }
}

TEST(DockerIgnoreTest, PathologicalPatternIsFast) {
  DockerIgnore di = MustParse("*a*a*a*a*a*a*a*a*a*a*b\n**/**/**/**/**/**/x\n");
  std::string path(200, 'a');
  EXPECT_FALSE(di.Excludes(path));
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += "d/";
  EXPECT_FALSE(di.Excludes(deep + "y"));
  EXPECT_TRUE(di.Excludes(deep + "x"));
}

}  // namespace
}  // namespace bim
