// ReadGitSource on real repositories made with libgit2: the commit, and what makes an app folder dirty
// (modified, staged, deleted or untracked files under it; not ignored files, not changes elsewhere).
#include "cli/git_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "support/git_repo.h"

namespace bim {
namespace {

namespace fs = std::filesystem;
using testing::CommitAll;
using testing::StageFile;

class GitSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-git-source-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(root_ + "/" + rel).parent_path());
    std::ofstream(root_ + "/" + rel, std::ios::trunc) << text;
  }
  GitSource Read(const std::string& rel = "") {
    GitSource s;
    Status st = ReadGitSource(rel.empty() ? root_ : root_ + "/" + rel, &s);
    EXPECT_TRUE(st.ok()) << st.message();
    return s;
  }
  std::string root_;
};

TEST_F(GitSourceTest, OutsideGitThereIsNoCommit) {
  Write("app/server.js", "x");
  GitSource s = Read("app");
  EXPECT_EQ(s.commit, "");
  EXPECT_FALSE(s.dirty);
  EXPECT_EQ(ShortSource(s.commit, s.dirty), "");
}

TEST_F(GitSourceTest, CleanTreeThenEachKindOfChange) {
  Write("server.js", "v1");
  Write(".gitignore", ".env\nnode_modules/\n");
  const std::string commit = CommitAll(root_, "one");
  ASSERT_EQ(commit.size(), 40u);
  GitSource s = Read();
  EXPECT_EQ(s.commit, commit);
  EXPECT_FALSE(s.dirty);
  EXPECT_EQ(ShortSource(s.commit, s.dirty), commit.substr(0, 7));

  // Ignored files are not changes.
  Write(".env", "SECRET=1");
  Write("node_modules/x/index.js", "x");
  EXPECT_FALSE(Read().dirty);

  Write("server.js", "v2");  // modified
  s = Read();
  EXPECT_TRUE(s.dirty);
  EXPECT_EQ(ShortSource(s.commit, s.dirty), commit.substr(0, 7) + "-dirty");
  ASSERT_TRUE(StageFile(root_, "server.js"));  // staged, not committed
  EXPECT_TRUE(Read().dirty);
  ASSERT_EQ(CommitAll(root_, "two").size(), 40u);
  EXPECT_FALSE(Read().dirty);

  Write("new/route.js", "x");  // untracked, in a new folder
  EXPECT_TRUE(Read().dirty);
  ASSERT_EQ(CommitAll(root_, "three").size(), 40u);
  fs::remove(root_ + "/server.js");  // deleted
  EXPECT_TRUE(Read().dirty);
}

TEST_F(GitSourceTest, OnlyTheAppFolderOfAMonorepoCounts) {
  Write("api/server.js", "v1");
  Write("web/index.html", "v1");
  const std::string commit = CommitAll(root_, "one");
  ASSERT_EQ(commit.size(), 40u);
  Write("web/index.html", "v2");  // another app changed
  GitSource api = Read("api");
  EXPECT_EQ(api.commit, commit);
  EXPECT_FALSE(api.dirty);
  EXPECT_TRUE(Read("web").dirty);
  Write("api/extra.js", "x");
  EXPECT_TRUE(Read("api").dirty);
}

TEST_F(GitSourceTest, ARepositoryWithoutCommitsHasNoCommit) {
  Write("server.js", "x");
  LibGit2 lib;
  GitPtr<git_repository, git_repository_free> repo;
  ASSERT_EQ(git_repository_init(repo.out(), root_.c_str(), 0), 0);
  GitSource s = Read();
  EXPECT_EQ(s.commit, "");
  EXPECT_FALSE(s.dirty);
}

}  // namespace
}  // namespace bim
