// The new upload paths are as hostile-proof as the old one: raw API requests (bypassing the CLI's own
// care) with lying hashes, escaping manifests, foreign manifests and doctored image archives are refused
// with a 4xx naming the problem, and leave nothing stored.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/context_manifest.h"
#include "integration/security_helpers.h"
#include "support/bimd_harness.h"
#include "support/local_base_image.h"

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

ContextEntry File(const std::string& path, const std::string& content) {
  ContextEntry e;
  e.path = path;
  e.mode = 0644;
  e.size = static_cast<int64_t>(content.size());
  e.sha256 = Sha256Hex(content);
  return e;
}

// A tar holding (name, content) regular files, as a string.
std::string Tar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  for (const auto& [name, content] : files) {
    char header[512] = {};
    std::snprintf(header, 100, "%s", name.c_str());
    std::snprintf(header + 100, 8, "%07o", 0644);
    std::snprintf(header + 108, 8, "%07o", 0);
    std::snprintf(header + 116, 8, "%07o", 0);
    std::snprintf(header + 124, 12, "%011o", static_cast<unsigned>(content.size()));
    std::snprintf(header + 136, 12, "%011o", 0);
    header[156] = '0';
    std::memcpy(header + 257, "ustar", 6);
    std::memcpy(header + 263, "00", 2);
    std::memset(header + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : header) sum += c;
    std::snprintf(header + 148, 8, "%06o", sum);
    out.append(header, 512);
    out += content;
    out.append((512 - content.size() % 512) % 512, '\0');
  }
  out.append(1024, '\0');
  return out;
}

size_t FilesUnder(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

class HostileUploadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Bimd(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { app_ = "h-" + UniqueSuffix(); }

  ApiAnswer Plan(const std::string& app, const std::string& manifest, const std::string& token = "") {
    return Api(server_->api_port(), "POST", "/v1/apps/" + app + "/contexts", token.empty() ? server_->token() : token,
               manifest, {"Content-Type: text/plain"});
  }
  ApiAnswer DeployRaw(const json& meta, const std::string& part = "", const std::string& data = "") {
    std::vector<std::pair<std::string, std::string>> parts = {{"meta", meta.dump()}};
    if (!part.empty()) parts.emplace_back(part, data);
    return Api(server_->api_port(), "POST", "/v1/apps/" + app_ + "/deploy", server_->token(), "", {}, parts);
  }
  std::string Store(const std::string& app) const { return server_->data_dir() + "/contexts/" + app; }

  static Bimd* server_;
  std::string app_;
};

Bimd* HostileUploadTest::server_ = nullptr;

const std::string kDockerfile = "FROM scratch\nCOPY a /a\n";

TEST_F(HostileUploadTest, ManifestsAreCheckedLikeTarballs) {
  std::vector<ContextEntry> entries = {File("Dockerfile", kDockerfile)};
  ContextEntry link;
  link.type = ContextEntry::Type::kSymlink;
  link.path = "z";
  link.mode = 0777;
  link.target = "../../../etc/shadow";
  entries.push_back(link);
  ApiAnswer a = Plan(app_, FormatManifest(entries));
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.Message().find("points outside the context"), std::string::npos) << a.body;

  EXPECT_EQ(Plan(app_, "bim-manifest 1\nF 0644 1 1 nothex a\n").status, 400);
  EXPECT_EQ(Plan(app_, "not a manifest").status, 400);
  std::vector<ContextEntry> traversal = {File("../x", "x"), File("Dockerfile", kDockerfile)};
  EXPECT_EQ(Plan(app_, FormatManifest(traversal)).status, 400);
  EXPECT_EQ(FilesUnder(Store(app_)), 0u) << "a refused manifest is not kept";
}

TEST_F(HostileUploadTest, ContentsMustHashToTheirNamesAndBelongToTheManifest) {
  std::vector<ContextEntry> entries = {File("Dockerfile", kDockerfile), File("a", "the real a")};
  ApiAnswer plan = Plan(app_, FormatManifest(entries));
  ASSERT_EQ(plan.status, 200) << plan.body;
  std::string id = plan.Json()["manifest"];
  ASSERT_EQ(plan.Json()["missing"].size(), 2u);
  json meta{{"app", app_}, {"context", {{"manifest", id}}}};
  size_t manifests = FilesUnder(Store(app_));

  // A content that does not hash to its name (next to an honest one, which must not be kept either).
  ApiAnswer lying = DeployRaw(meta, "contents", Tar({{Sha256Hex(kDockerfile), kDockerfile}, {Sha256Hex("the real a"), "evil a"}}));
  EXPECT_EQ(lying.status, 400) << lying.body;
  EXPECT_NE(lying.Message().find("hashes to"), std::string::npos) << lying.body;
  // A content the manifest does not name.
  ApiAnswer extra = DeployRaw(meta, "contents", Tar({{Sha256Hex("junk"), "junk"}}));
  EXPECT_EQ(extra.status, 400) << extra.body;
  // Not a tar at all.
  EXPECT_EQ(DeployRaw(meta, "contents", "garbage").status, 400);
  // Nothing sent: the deploy says what is missing instead of building half a context.
  ApiAnswer missing = DeployRaw(meta);
  EXPECT_EQ(missing.status, 422) << missing.body;
  EXPECT_NE(missing.Message().find("lacks 2 file content"), std::string::npos) << missing.body;

  EXPECT_EQ(FilesUnder(Store(app_)), manifests) << "no content was stored";
  EXPECT_TRUE(ListDir(server_->data_dir() + "/uploads").empty());
  EXPECT_EQ(server_->Bim({"releases", app_}).exit_code, 4) << "no app was created";
}

TEST_F(HostileUploadTest, ManifestsAndImagesAreNotSharedBetweenApps) {
  std::vector<ContextEntry> entries = {File("Dockerfile", kDockerfile), File("a", "x")};
  std::string victim = "h-" + UniqueSuffix();
  ApiAnswer plan = Plan(victim, FormatManifest(entries));
  ASSERT_EQ(plan.status, 200) << plan.body;
  // Another app cannot deploy (or learn about) the victim's manifest by its id.
  ApiAnswer a = DeployRaw(json{{"app", app_}, {"context", {{"manifest", plan.Json()["manifest"]}}}});
  EXPECT_EQ(a.status, 404) << a.body;
  // A scoped token cannot plan for another app.
  ApiAnswer token = Api(server_->api_port(), "POST", "/v1/tokens", server_->token(),
                        json{{"name", "ci-" + app_}, {"app", app_}}.dump(), {"Content-Type: application/json"});
  ASSERT_EQ(token.status, 200) << token.body;
  std::string scoped = token.Json()["token"];
  EXPECT_EQ(Plan(victim, FormatManifest(entries), scoped).status, 403);
  EXPECT_EQ(Api(server_->api_port(), "POST", "/v1/apps/" + victim + "/layers", scoped,
                json{{"image", "sha256:" + Sha256Hex("x")}, {"layers", json::array()}}.dump(),
                {"Content-Type: application/json"})
                .status,
            403);
  fs::remove_all(Store(victim));
}

TEST_F(HostileUploadTest, DoctoredImageArchivesAreRefusedBeforeDocker) {
  std::string config = R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{}}})";
  std::string id = "sha256:" + Sha256Hex(config);
  json manifest = json::array({{{"Config", Sha256Hex(config) + ".json"}, {"RepoTags", {"bim/victim:v1"}}, {"Layers", json::array()}}});
  ApiAnswer tagged = DeployRaw(json{{"app", app_}, {"image", {{"id", id}}}}, "image",
                               Tar({{Sha256Hex(config) + ".json", config}, {"manifest.json", manifest.dump()}}));
  EXPECT_EQ(tagged.status, 400) << tagged.body;
  EXPECT_NE(tagged.Message().find("RepoTags"), std::string::npos) << tagged.body;
  manifest[0]["RepoTags"] = nullptr;
  ApiAnswer unlabelled = DeployRaw(json{{"app", app_}, {"image", {{"id", id}}}}, "image",
                                   Tar({{Sha256Hex(config) + ".json", config}, {"manifest.json", manifest.dump()}}));
  EXPECT_EQ(unlabelled.status, 400) << unlabelled.body;
  EXPECT_NE(unlabelled.Message().find("labels"), std::string::npos) << unlabelled.body;
  EXPECT_EQ(DeployRaw(json{{"app", app_}, {"image", {{"id", "sha256:zz"}}}}).status, 400);
  EXPECT_TRUE(ListDir(server_->data_dir() + "/uploads").empty());
  EXPECT_EQ(EngineGet("/images/" + id + "/json"), "") << "nothing reached docker load";
}

}  // namespace
}  // namespace bim::testing
