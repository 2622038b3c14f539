// ContextStore on a real file system (a temp dir): plans, verified uploads, the tar it writes, bounds.
#include "server/context_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <map>
#include <memory>

namespace bim {
namespace {

namespace fs = std::filesystem;

// Writes a tar (gzip when `gzip`) of regular files (name, content).
void WriteTar(const std::string& path, const std::vector<std::pair<std::string, std::string>>& files, bool gzip = true) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (gzip) archive_write_add_filter_gzip(a.get());
  ASSERT_EQ(archive_write_open_filename(a.get(), path.c_str()), ARCHIVE_OK);
  for (const auto& [name, content] : files) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    ASSERT_EQ(archive_write_header(a.get(), e.get()), ARCHIVE_OK);
    archive_write_data(a.get(), content.data(), content.size());
  }
  ASSERT_EQ(archive_write_close(a.get()), ARCHIVE_OK);
}

// Reads a tar into name -> (type, content or link target, mode).
struct TarEntry {
  char type;
  std::string data;
  unsigned mode;
};
std::map<std::string, TarEntry> ReadTar(const std::string& path) {
  std::map<std::string, TarEntry> out;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) return out;
  archive_entry* e;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    TarEntry t{'f', "", static_cast<unsigned>(archive_entry_perm(e))};
    if (archive_entry_filetype(e) == AE_IFDIR) t.type = 'd';
    if (archive_entry_filetype(e) == AE_IFLNK) {
      t.type = 'l';
      t.data = archive_entry_symlink(e);
    }
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) t.data.append(buf, static_cast<size_t>(n));
    std::string name = archive_entry_pathname(e);
    if (name.size() > 1 && name.back() == '/') name.pop_back();
    out[name] = t;
  }
  return out;
}

ContextEntry File(const std::string& path, const std::string& content, uint32_t mode = 0644) {
  ContextEntry e;
  e.path = path;
  e.mode = mode;
  e.mtime = 1700000000;
  e.size = static_cast<int64_t>(content.size());
  e.sha256 = Sha256Hex(content);
  return e;
}

class ContextStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-context-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Reopen(ContextStoreOptions());
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Reopen(ContextStoreOptions options) {
    options.root = dir_ + "/contexts";
    store_ = std::make_unique<ContextStore>(options);
    ASSERT_TRUE(store_->Open().ok());
  }

  // Plans `files` for `app`; returns the plan.
  ContextPlan Plan(const std::string& app, const std::map<std::string, std::string>& files) {
    std::vector<ContextEntry> entries;
    for (const auto& [path, content] : files) entries.push_back(File(path, content));
    SortEntries(&entries);
    ContextPlan plan;
    Status s = store_->PlanUpload(app, FormatManifest(entries), limits_, &plan);
    EXPECT_TRUE(s.ok()) << s.message();
    return plan;
  }
  // Uploads the contents of `files` the plan says are missing.
  Status Upload(const std::string& app, const ContextPlan& plan, const std::map<std::string, std::string>& files) {
    std::vector<std::pair<std::string, std::string>> parts;
    std::set<std::string> wanted;
    for (const auto& [path, content] : files) {
      std::string sha = Sha256Hex(content);
      wanted.insert(sha);
      if (std::find(plan.missing.begin(), plan.missing.end(), sha) != plan.missing.end() &&
          std::none_of(parts.begin(), parts.end(), [&](const auto& p) { return p.first == sha; }))
        parts.emplace_back(sha, content);
    }
    WriteTar(dir_ + "/up.tar.gz", parts);
    ContentsAdded added;
    return store_->AddContents(app, dir_ + "/up.tar.gz", wanted, &added);
  }
  size_t BlobCount(const std::string& app) {
    size_t n = 0;
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(dir_ + "/contexts/" + app + "/blobs", ec))
      n += f.is_regular_file() ? 1 : 0;
    return n;
  }

  std::string dir_;
  ContextLimits limits_;
  std::unique_ptr<ContextStore> store_;
};

const std::map<std::string, std::string> kApp = {
    {"Dockerfile", "FROM scratch\nCOPY . /\n"}, {"a.txt", "alpha"}, {"b.txt", "beta"}, {"copy-of-a.txt", "alpha"}};

TEST_F(ContextStoreTest, OnlyMissingContentsAreAskedForAndEachOnce) {
  ContextPlan first = Plan("web", kApp);
  EXPECT_EQ(first.files, 4);
  EXPECT_EQ(first.missing.size(), 3u) << "a.txt and copy-of-a.txt share one content";
  EXPECT_EQ(first.present_bytes, 0);
  ASSERT_TRUE(Upload("web", first, kApp).ok());

  std::map<std::string, std::string> changed = kApp;
  changed["b.txt"] = "beta, changed";
  ContextPlan second = Plan("web", changed);
  ASSERT_EQ(second.missing.size(), 1u);
  EXPECT_EQ(second.missing[0], Sha256Hex("beta, changed"));
  EXPECT_EQ(second.missing_bytes, 13);
  EXPECT_EQ(second.present_bytes, static_cast<int64_t>(kApp.at("Dockerfile").size() + 10));
}

TEST_F(ContextStoreTest, AppsNeverSeeEachOthersContents) {
  ContextPlan web = Plan("web", kApp);
  ASSERT_TRUE(Upload("web", web, kApp).ok());
  std::vector<ContextEntry> entries;
  EXPECT_TRUE(store_->LoadManifest("api", web.manifest_id, &entries).IsNotFound()) << "manifests are per app";
  // The same files for another app: all missing, nothing learnt about "web".
  EXPECT_EQ(Plan("api", kApp).missing.size(), 3u);
}

TEST_F(ContextStoreTest, DeltaAgainstAStoredManifest) {
  ContextPlan base = Plan("web", kApp);
  std::vector<ContextEntry> current = base.entries;
  current.push_back(File("c.txt", "gamma"));
  SortEntries(&current);
  std::string delta = FormatManifestDelta(base.entries, base.manifest_id, current);
  ContextPlan plan;
  ASSERT_TRUE(store_->PlanUpload("web", delta, limits_, &plan).ok());
  EXPECT_EQ(plan.entries, current);
  EXPECT_EQ(plan.manifest_id, Sha256Hex(FormatManifest(current)));

  // A delta against a base this app never stored: NotFound, so the client sends the whole manifest.
  std::string stranger = FormatManifestDelta(base.entries, Sha256Hex("no such manifest"), current);
  EXPECT_TRUE(store_->PlanUpload("web", stranger, limits_, &plan).IsNotFound());
  EXPECT_TRUE(store_->PlanUpload("api", delta, limits_, &plan).IsNotFound()) << "bases are per app";
  // A delta whose result is not what its header names is refused.
  std::string lying = delta;
  lying.replace(lying.find(Sha256Hex(FormatManifest(current))), 64, Sha256Hex("lie"));
  EXPECT_EQ(store_->PlanUpload("web", lying, limits_, &plan).code(), Code::kInvalidArgument);
}

TEST_F(ContextStoreTest, ManifestsGetTheSameChecksAsTarUploads) {
  ContextPlan plan;
  std::vector<ContextEntry> escape = {File("Dockerfile", "FROM scratch\n")};
  ContextEntry link;
  link.type = ContextEntry::Type::kSymlink;
  link.path = "evil";
  link.mode = 0777;
  link.target = "../../etc/passwd";
  escape.push_back(link);
  Status s = store_->PlanUpload("web", FormatManifest(escape), limits_, &plan);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("outside the context"), std::string::npos) << s.message();

  std::vector<ContextEntry> dotdot = {File("../x", "x"), File("Dockerfile", "FROM scratch\n")};
  SortEntries(&dotdot);
  EXPECT_EQ(store_->PlanUpload("web", FormatManifest(dotdot), limits_, &plan).code(), Code::kInvalidArgument);
  std::vector<ContextEntry> control = {File("Dockerfile", "FROM scratch\n"), File("a\nb", "x")};
  EXPECT_EQ(store_->PlanUpload("web", FormatManifest(control), limits_, &plan).code(), Code::kInvalidArgument);
  std::vector<ContextEntry> no_dockerfile = {File("a", "x")};
  EXPECT_EQ(store_->PlanUpload("web", FormatManifest(no_dockerfile), limits_, &plan).code(), Code::kInvalidArgument);
  ContextLimits small;
  small.max_entries = 1;
  EXPECT_EQ(store_->PlanUpload("web", FormatManifest({File("Dockerfile", "x"), File("a", "y")}), small, &plan).code(),
            Code::kTooLarge);
  EXPECT_FALSE(fs::exists(dir_ + "/contexts/web/manifests") && !fs::is_empty(dir_ + "/contexts/web/manifests"))
      << "a refused manifest is not stored";
}

TEST_F(ContextStoreTest, RefusedUploadsStoreNothing) {
  ContextPlan plan = Plan("web", kApp);
  std::set<std::string> wanted(plan.missing.begin(), plan.missing.end());
  ContentsAdded added;
  auto refused = [&](const std::vector<std::pair<std::string, std::string>>& parts) {
    WriteTar(dir_ + "/bad.tar.gz", parts);
    Status s = store_->AddContents("web", dir_ + "/bad.tar.gz", wanted, &added);
    EXPECT_EQ(BlobCount("web"), 0u) << "nothing may stay behind";
    EXPECT_TRUE(fs::is_empty(dir_ + "/contexts/web/tmp"));
    return s.code();
  };
  std::string alpha = Sha256Hex("alpha"), beta = Sha256Hex("beta");
  // A content whose bytes do not hash to its name (after a good one, which must be dropped too).
  EXPECT_EQ(refused({{alpha, "alpha"}, {beta, "not beta"}}), Code::kInvalidArgument);
  EXPECT_EQ(refused({{alpha, "alpha"}, {Sha256Hex("x"), "x"}}), Code::kInvalidArgument) << "not in the manifest";
  EXPECT_EQ(refused({{alpha, "alpha"}, {alpha, "alpha"}}), Code::kInvalidArgument) << "twice";
  EXPECT_EQ(refused({{"../" + alpha.substr(3), "alpha"}}), Code::kInvalidArgument) << "not a hash name";
  EXPECT_EQ(refused({{alpha, "alpha"}, {"Dockerfile", "x"}}), Code::kInvalidArgument);
  std::string garbage = dir_ + "/garbage.tar.gz";
  FILE* f = fopen(garbage.c_str(), "w");
  fputs("this is not a tar", f);
  fclose(f);
  EXPECT_EQ(store_->AddContents("web", garbage, wanted, &added).code(), Code::kInvalidArgument);
  EXPECT_EQ(BlobCount("web"), 0u);
}

TEST_F(ContextStoreTest, WritesTheBuildContextTarFromStoredContents) {
  std::vector<ContextEntry> entries = {File("Dockerfile", "FROM scratch\n"), File("bin/run", "#!/bin/sh\n", 0755)};
  ContextEntry dir;
  dir.type = ContextEntry::Type::kDir;
  dir.path = "bin";
  dir.mode = 0755;
  ContextEntry link;
  link.type = ContextEntry::Type::kSymlink;
  link.path = "bin/start";
  link.mode = 0777;
  link.target = "run";
  entries.push_back(dir);
  entries.push_back(link);
  SortEntries(&entries);
  ContextPlan plan;
  ASSERT_TRUE(store_->PlanUpload("web", FormatManifest(entries), limits_, &plan).ok());
  std::string tar = dir_ + "/context.tar";
  EXPECT_EQ(store_->WriteContextTar("web", plan.entries, tar).code(), Code::kFailedPrecondition)
      << "contents not uploaded yet";
  ASSERT_TRUE(Upload("web", plan, {{"Dockerfile", "FROM scratch\n"}, {"bin/run", "#!/bin/sh\n"}}).ok());
  ASSERT_TRUE(store_->WriteContextTar("web", plan.entries, tar).ok());
  auto read = ReadTar(tar);
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read["Dockerfile"].data, "FROM scratch\n");
  EXPECT_EQ(read["bin/run"].data, "#!/bin/sh\n");
  EXPECT_EQ(read["bin/run"].mode, 0755u);
  EXPECT_EQ(read["bin"].type, 'd');
  EXPECT_EQ(read["bin/start"].type, 'l');
  EXPECT_EQ(read["bin/start"].data, "run");
  EXPECT_TRUE(CheckBuildContext(tar, ContextLimits(), "Dockerfile").ok());
}

TEST_F(ContextStoreTest, PruneKeepsRecentContextsOnly) {
  ContextStoreOptions options;
  options.keep_manifests = 2;
  options.grace = std::chrono::seconds(0);
  Reopen(options);
  std::vector<ContextPlan> plans;
  for (int i = 0; i < 4; ++i) {
    std::map<std::string, std::string> files = {{"Dockerfile", "FROM scratch\n"}, {"v", "version " + std::to_string(i)}};
    plans.push_back(Plan("web", files));
    ASSERT_TRUE(Upload("web", plans.back(), files).ok());
    // Distinct mtimes, oldest first.
    std::string path = dir_ + "/contexts/web/manifests/" + plans.back().manifest_id;
    struct utimbuf t{1000000 + i * 10, 1000000 + i * 10};
    utime(path.c_str(), &t);
  }
  EXPECT_EQ(BlobCount("web"), 5u);
  store_->Prune("web");
  std::vector<ContextEntry> entries;
  EXPECT_TRUE(store_->LoadManifest("web", plans[0].manifest_id, &entries).IsNotFound());
  EXPECT_TRUE(store_->LoadManifest("web", plans[1].manifest_id, &entries).IsNotFound());
  EXPECT_TRUE(store_->LoadManifest("web", plans[3].manifest_id, &entries).ok());
  EXPECT_EQ(BlobCount("web"), 3u) << "the Dockerfile and versions 2 and 3";
  EXPECT_GT(store_->UsageBytes("web"), 0);
}

TEST_F(ContextStoreTest, CapEvictsOldContextsAndRefusesWhatCannotFit) {
  ContextStoreOptions options;
  options.max_bytes_per_app = 3000;
  options.grace = std::chrono::seconds(0);
  Reopen(options);
  std::map<std::string, std::string> one = {{"Dockerfile", "FROM scratch\n"}, {"big", std::string(1500, 'a')}};
  ContextPlan first = Plan("web", one);
  ASSERT_TRUE(Upload("web", first, one).ok());
  std::string path = dir_ + "/contexts/web/manifests/" + first.manifest_id;
  struct utimbuf t{1000000, 1000000};
  utime(path.c_str(), &t);
  std::map<std::string, std::string> two = {{"Dockerfile", "FROM scratch\n"}, {"big", std::string(2000, 'b')}};
  ContextPlan second = Plan("web", two);
  ASSERT_TRUE(Upload("web", second, two).ok()) << "the older context is evicted to make room";
  std::vector<ContextEntry> entries;
  EXPECT_TRUE(store_->LoadManifest("web", first.manifest_id, &entries).IsNotFound());
  EXPECT_LE(store_->UsageBytes("web"), 3000);

  std::map<std::string, std::string> huge = {{"Dockerfile", "FROM scratch\n"}, {"big", std::string(5000, 'c')}};
  ContextPlan third = Plan("web", huge);
  EXPECT_EQ(Upload("web", third, huge).code(), Code::kTooLarge);
}

TEST_F(ContextStoreTest, RemoveAppDeletesEverything) {
  ContextPlan plan = Plan("web", kApp);
  ASSERT_TRUE(Upload("web", plan, kApp).ok());
  ASSERT_TRUE(store_->RemoveApp("web").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/contexts/web"));
  EXPECT_EQ(Plan("web", kApp).missing.size(), 3u);
}

}  // namespace
}  // namespace bim
