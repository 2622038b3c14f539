// base/file_util.h: atomic writes that never write through a planted link, and the data dir made
// private whatever it was before.
#include "base/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace bim {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("bim-fileutil-" + std::to_string(getpid()) + "-" +
                                         std::to_string(reinterpret_cast<uintptr_t>(this)))).string();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  mode_t Mode(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  }
  std::string dir_;
};

TEST_F(FileUtilTest, AtomicWriteReplacesALinkInsteadOfWritingThroughIt) {
  std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "untouched";
  fs::create_symlink(victim, dir_ + "/token");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/token", "secret\n", 0600).ok());
  std::string text;
  ASSERT_TRUE(ReadFile(victim, &text).ok());
  EXPECT_EQ(text, "untouched");
  EXPECT_FALSE(fs::is_symlink(dir_ + "/token"));
  EXPECT_EQ(Mode(dir_ + "/token"), 0600u);
  // No temp file is left, and two writes use different temp names (they are random).
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) entries += e.path().filename().string().find(".tmp-") == std::string::npos;
  EXPECT_EQ(entries, 2);
}

TEST_F(FileUtilTest, RestrictTreeMakesEverythingPrivate) {
  fs::create_directories(dir_ + "/nginx/logs");
  std::ofstream(dir_ + "/bim.db") << "x";
  std::ofstream(dir_ + "/nginx/logs/access.log") << "x";
  fs::create_symlink("/etc/passwd", dir_ + "/link");
  chmod(dir_.c_str(), 0755);
  chmod((dir_ + "/nginx").c_str(), 0777);
  chmod((dir_ + "/bim.db").c_str(), 0644);
  chmod((dir_ + "/nginx/logs/access.log").c_str(), 0666);
  struct stat before;
  ASSERT_EQ(stat("/etc/passwd", &before), 0);
  ASSERT_TRUE(RestrictTree(dir_).ok());
  EXPECT_EQ(Mode(dir_), 0700u);
  EXPECT_EQ(Mode(dir_ + "/nginx"), 0700u);
  EXPECT_EQ(Mode(dir_ + "/nginx/logs"), 0700u);
  EXPECT_EQ(Mode(dir_ + "/bim.db"), 0600u);
  EXPECT_EQ(Mode(dir_ + "/nginx/logs/access.log"), 0600u);
  struct stat after;
  ASSERT_EQ(stat("/etc/passwd", &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode) << "a symlink in the data dir is not followed";
}

}  // namespace
}  // namespace bim
