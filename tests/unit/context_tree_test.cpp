// ContextTree (core/context_tree.h): the rules that keep every entry of a build context inside it.
#include "core/context_tree.h"

#include <gtest/gtest.h>

namespace bim {
namespace {

using Type = ContextTree::Type;

struct E {
  std::string name;
  Type type;
  std::string target;
};

// The tree's verdict on entries added in order: "" when accepted, else the message.
std::string Verdict(const std::vector<E>& entries) {
  ContextTree tree;
  for (const E& e : entries) {
    Status s = tree.Add(e.name, e.type, e.target);
    if (!s.ok()) return s.message();
  }
  Status s = tree.Finish();
  return s.ok() ? "" : s.message();
}

TEST(ContextTreeTest, AcceptsOrdinaryContextsAndLinksThatStayInside) {
  EXPECT_EQ(Verdict({{"Dockerfile", Type::kFile, ""},
                     {"./src/", Type::kDirectory, ""},
                     {"src/main.c", Type::kFile, ""},
                     {"src/link", Type::kSymlink, "main.c"},
                     {"top", Type::kSymlink, "src/link"},
                     {"up", Type::kSymlink, "src/.."},
                     {"later", Type::kSymlink, "defined/below"},
                     {"defined/below", Type::kFile, ""},
                     {"dangling", Type::kSymlink, "nowhere/at/all"},
                     {"h", Type::kHardlink, "src/main.c"}}),
            "");
}

TEST(ContextTreeTest, RefusesNamesThatLeaveTheContext) {
  EXPECT_NE(Verdict({{"../evil", Type::kFile, ""}}).find("points outside"), std::string::npos);
  EXPECT_NE(Verdict({{"a/../../evil", Type::kFile, ""}}).find("points outside"), std::string::npos);
  EXPECT_NE(Verdict({{"a/../b", Type::kFile, ""}}).find("points outside"), std::string::npos);
  EXPECT_NE(Verdict({{"/etc/cron.d/x", Type::kFile, ""}}).find("points outside"), std::string::npos);
  EXPECT_NE(Verdict({{"", Type::kFile, ""}}).find("empty or unprintable"), std::string::npos);
  EXPECT_NE(Verdict({{"a\nb", Type::kFile, ""}}).find("empty or unprintable"), std::string::npos);
  EXPECT_NE(Verdict({{"a", Type::kFile, ""}, {"./a", Type::kFile, ""}}).find("twice"), std::string::npos);
}

TEST(ContextTreeTest, SymlinksAreResolvedThroughOtherSymlinks) {
  // Each link stays inside when read on its own ("l/.." is the root), but "l" is the root itself, so
  // "l/../etc" is the context's parent.
  EXPECT_NE(Verdict({{"l", Type::kSymlink, "."}, {"evil", Type::kSymlink, "l/../etc"}}).find("symlink \"evil\" points outside"),
            std::string::npos);
  // Lexically d/e/up/../../.. is the root; really "up" is d, so it climbs one level too far.
  EXPECT_NE(Verdict({{"d/e/up", Type::kSymlink, ".."}, {"x", Type::kSymlink, "d/e/up/../../.."}}).find("\"x\""),
            std::string::npos);
  // The link may come after the one that uses it.
  EXPECT_NE(Verdict({{"evil", Type::kSymlink, "l/../x"}, {"l", Type::kSymlink, "."}}), "");
  EXPECT_NE(Verdict({{"a/up", Type::kSymlink, "../../etc"}}).find("symlink \"a/up\" points outside"), std::string::npos);
  EXPECT_NE(Verdict({{"passwd", Type::kSymlink, "/etc/passwd"}}).find("symlink \"passwd\" points outside"),
            std::string::npos);
  EXPECT_NE(Verdict({{"a", Type::kSymlink, "b"}, {"b", Type::kSymlink, "a"}, {"c", Type::kSymlink, "a"}}).find("loop"),
            std::string::npos);
}

TEST(ContextTreeTest, EntriesBeneathSymlinksOrFilesAreRefused) {
  EXPECT_NE(Verdict({{"sub", Type::kDirectory, ""}, {"link", Type::kSymlink, "sub"}, {"link/file", Type::kFile, ""}})
                .find("beneath the symlink \"link\""),
            std::string::npos);
  // Order does not matter: the file first, the symlink replacing its directory later.
  EXPECT_NE(Verdict({{"link/file", Type::kFile, ""}, {"link", Type::kSymlink, "."}}).find("beneath"), std::string::npos);
  EXPECT_NE(Verdict({{"f", Type::kFile, ""}, {"f/x", Type::kFile, ""}}).find("beneath the file"), std::string::npos);
}

TEST(ContextTreeTest, HardlinksMustNameAnEarlierFile) {
  EXPECT_NE(Verdict({{"h", Type::kHardlink, "../../etc/shadow"}}).find("hardlink \"h\" points outside"), std::string::npos);
  EXPECT_NE(Verdict({{"h", Type::kHardlink, "/etc/shadow"}}).find("hardlink \"h\""), std::string::npos);
  EXPECT_NE(Verdict({{"h", Type::kHardlink, "f"}, {"f", Type::kFile, ""}}).find("hardlink"), std::string::npos);
  EXPECT_NE(Verdict({{"d", Type::kDirectory, ""}, {"h", Type::kHardlink, "d"}}).find("hardlink"), std::string::npos);
  EXPECT_NE(Verdict({{"l", Type::kSymlink, "f"}, {"h", Type::kHardlink, "l"}}).find("hardlink"), std::string::npos);
}

TEST(ContextTreeTest, EnvFilesAreRefusedAtAnyDepth) {
  for (const std::string& name : {".env", ".env.local", "config/.env.production", ".envrc", "a/b/.env"}) {
    std::string v = Verdict({{name, Type::kFile, ""}});
    EXPECT_NE(v.find("never uploads .env files"), std::string::npos) << name << ": " << v;
  }
  EXPECT_NE(Verdict({{".env", Type::kDirectory, ""}}), "");
  EXPECT_NE(Verdict({{".env/lib/x.py", Type::kFile, ""}}), "");
  EXPECT_NE(Verdict({{"link", Type::kSymlink, ".env"}, {".env", Type::kFile, ""}}), "");
  EXPECT_EQ(Verdict({{"env", Type::kFile, ""}, {"my.env", Type::kFile, ""}, {"environment.md", Type::kFile, ""}}), "");
  EXPECT_TRUE(IsSecretFileName(".env"));
  EXPECT_FALSE(IsSecretFileName("dotenv"));
}

TEST(ContextTreeTest, FirstRefusalSticks) {
  ContextTree tree;
  EXPECT_FALSE(tree.Add("../x", Type::kFile).ok());
  EXPECT_FALSE(tree.Add("fine", Type::kFile).ok());
  EXPECT_FALSE(tree.Finish().ok());
}

}  // namespace
}  // namespace bim
