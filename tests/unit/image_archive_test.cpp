// CheckImageArchive on hand-made `docker save` archives: what an uploaded image must (not) carry.
#include "server/image_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/deploy_plan.h"
#include "core/sha256.h"

namespace bim {
namespace {

using nlohmann::json;

struct Entry {
  std::string name;
  std::string data;
  int type = AE_IFREG;  // AE_IFREG, AE_IFDIR or AE_IFLNK (data = target)
};

void WriteTar(const std::string& path, const std::vector<Entry>& entries) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  ASSERT_EQ(archive_write_open_filename(a.get(), path.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> h(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(h.get(), e.name.c_str());
    archive_entry_set_filetype(h.get(), e.type);
    archive_entry_set_perm(h.get(), 0644);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(h.get(), e.data.c_str());
    if (e.type == AE_IFREG) archive_entry_set_size(h.get(), static_cast<la_int64_t>(e.data.size()));
    ASSERT_EQ(archive_write_header(a.get(), h.get()), ARCHIVE_OK);
    if (e.type == AE_IFREG) archive_write_data(a.get(), e.data.data(), e.data.size());
  }
  ASSERT_EQ(archive_write_close(a.get()), ARCHIVE_OK);
}

class ImageArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-image-archive-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    layer_ = "layer bytes";
    config_ = json{{"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + Sha256Hex(layer_)}}}},
                   {"config", {{"Labels", {{labels::kInstance, "inst1"}, {labels::kApp, "web"}}}}}};
    manifest_ = json::array({json{{"Config", ConfigName()}, {"RepoTags", nullptr}, {"Layers", {"aaaa/layer.tar"}}}});
    rules_.instance_id = "inst1";
    rules_.app = "web";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string ConfigText() const { return config_.dump(); }
  std::string ConfigName() const { return Sha256Hex(ConfigText()) + ".json"; }

  // Writes the archive (optionally without the layer, or with extra entries) and checks it.
  Status Check(bool with_layer = true, std::vector<Entry> extra = {}) {
    std::vector<Entry> entries = {{"aaaa", "", AE_IFDIR}, {"aaaa/VERSION", "1.0"}};
    if (with_layer) entries.push_back({"aaaa/layer.tar", layer_});
    entries.push_back({ConfigName(), ConfigText()});
    entries.push_back({"manifest.json", manifest_.dump()});
    entries.insert(entries.end(), extra.begin(), extra.end());
    std::string path = dir_ + "/image.tar";
    WriteTar(path, entries);
    if (rules_.image_id.empty()) rules_.image_id = "sha256:" + Sha256Hex(ConfigText());
    return CheckImageArchive(path, rules_, &facts_);
  }

  std::string dir_, layer_;
  json config_, manifest_;
  ImageArchiveRules rules_;
  ImageArchiveFacts facts_;
};

TEST_F(ImageArchiveTest, AcceptsADockerSaveArchiveWithOrWithoutItsLayers) {
  Status s = Check();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(facts_.diff_ids.size(), 1u);
  EXPECT_EQ(facts_.layer_files_present, 1);
  ASSERT_TRUE(Check(/*with_layer=*/false).ok()) << "a layer bimd holds may be left out";
  EXPECT_EQ(facts_.layer_files_present, 0);
}

TEST_F(ImageArchiveTest, RefusesTags) {
  manifest_[0]["RepoTags"] = {"bim/other-app:v1"};
  Status s = Check();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("RepoTags"), std::string::npos) << s.message();
  manifest_[0]["RepoTags"] = nullptr;
  EXPECT_EQ(Check(true, {{"repositories", R"({"bim/other-app":{"v1":"aaaa"}})"}}).code(), Code::kInvalidArgument);
}

TEST_F(ImageArchiveTest, RefusesAnImageOtherThanTheOneNamed) {
  rules_.image_id = "sha256:" + Sha256Hex("some other config");
  Status s = Check();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("not the image the deploy names"), std::string::npos) << s.message();
}

TEST_F(ImageArchiveTest, RefusesImagesWithoutThisAppsLabels) {
  rules_.app = "other-app";
  EXPECT_EQ(Check().code(), Code::kInvalidArgument);
  rules_.app = "web";
  rules_.instance_id = "another-bimd";
  EXPECT_EQ(Check().code(), Code::kInvalidArgument);
}

TEST_F(ImageArchiveTest, RefusesLinksUnsafeNamesAndBadManifests) {
  EXPECT_EQ(Check(true, {{"evil", "/etc/passwd", AE_IFLNK}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(Check(true, {{"../evil", "x"}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(Check(true, {{"/abs", "x"}}).code(), Code::kInvalidArgument);
  manifest_[0]["Layers"] = {"../../etc/layer.tar"};
  EXPECT_EQ(Check().code(), Code::kInvalidArgument);
  manifest_[0]["Layers"] = {"aaaa/layer.tar", "bbbb/layer.tar"};
  EXPECT_EQ(Check().code(), Code::kInvalidArgument) << "two layers for one diff id";
  manifest_ = json::array({manifest_[0], manifest_[0]});
  EXPECT_EQ(Check().code(), Code::kInvalidArgument) << "two images";
  std::string path = dir_ + "/not.tar";
  FILE* f = fopen(path.c_str(), "w");
  fputs("garbage", f);
  fclose(f);
  EXPECT_EQ(CheckImageArchive(path, rules_, &facts_).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace bim
