// PackContext's content digest: the same SourceDigest `bim deploy` sends for a manifest upload, so a
// release records one digest for the same files whether bimd or bim (--build local) builds them.
#include "cli/context_pack.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/context_manifest.h"
#include "core/sha256.h"

namespace bim {
namespace {

namespace fs = std::filesystem;

class ContextPackDigestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-pack-digest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    chmod(root_.c_str(), 0755);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text, mode_t mode = 0644) {
    fs::create_directories(fs::path(root_ + "/app/" + rel).parent_path());
    std::ofstream(root_ + "/app/" + rel, std::ios::trunc) << text;
    chmod((root_ + "/app/" + rel).c_str(), mode);
  }
  std::string Pack() {
    PackStats stats;
    Status s = PackContext(root_ + "/app", root_ + "/context.tar.gz", &stats);
    EXPECT_TRUE(s.ok()) << s.message();
    return stats.content_digest;
  }
  static ContextEntry File(const std::string& path, const std::string& text, uint32_t mode = 0644) {
    ContextEntry e;
    e.type = ContextEntry::Type::kFile;
    e.path = path;
    e.mode = mode;
    e.size = static_cast<int64_t>(text.size());
    e.sha256 = Sha256Hex(text);
    return e;
  }
  std::string root_;
};

TEST_F(ContextPackDigestTest, EqualsTheManifestsSourceDigest) {
  Write("Dockerfile", "FROM scratch\n");
  Write("src/main.js", "console.log(1)\n", 0755);
  Write(".env", "SECRET=1\n");  // never packed, so never part of the digest
  fs::permissions(root_ + "/app/src", fs::perms(0755));
  ContextEntry dir;
  dir.type = ContextEntry::Type::kDir;
  dir.path = "src";
  dir.mode = 0755;
  std::vector<ContextEntry> manifest = {File("Dockerfile", "FROM scratch\n"), dir,
                                        File("src/main.js", "console.log(1)\n", 0755)};
  SortEntries(&manifest);
  std::string packed = Pack();
  EXPECT_EQ(packed, SourceDigest(manifest));
  EXPECT_TRUE(packed.starts_with("sha256:")) << packed;
}

TEST_F(ContextPackDigestTest, FollowsContentAndModeButNotTimestamps) {
  Write("Dockerfile", "FROM scratch\n");
  Write("a.txt", "one");
  const std::string first = Pack();
  fs::last_write_time(root_ + "/app/a.txt", fs::file_time_type::clock::now() - std::chrono::hours(5));
  EXPECT_EQ(Pack(), first) << "an mtime is not content";
  Write("a.txt", "two");
  const std::string changed = Pack();
  EXPECT_NE(changed, first);
  chmod((root_ + "/app/a.txt").c_str(), 0600);
  EXPECT_NE(Pack(), changed) << "a mode change is a change";
}

}  // namespace
}  // namespace bim
