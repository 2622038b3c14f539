// Send and build only what changed (issue 10), on the real stack: a real bimd and dockerd driven through
// the real `bim` binary. The byte counts asserted are the ones `bim deploy --json` reports, and each test
// also checks what the server did (releases recorded, images, the files inside the live container), so a
// client that merely claimed to send less would fail.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>

#include "docker/docker_client.h"
#include "support/bimd_harness.h"
#include "support/local_base_image.h"
#include "support/scratch_dockerd.h"

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// The content of `path` inside a running container, read through the Engine API's archive endpoint.
std::string FileInContainer(const std::string& container, const std::string& path) {
  std::string tar = EngineGet("/containers/" + container + "/archive?path=" + path);
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  if (tar.empty() || archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK) return "<no archive>";
  archive_entry* e;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK) return "<empty archive>";
  std::string out(static_cast<size_t>(archive_entry_size(e)), '\0');
  archive_read_data(a.get(), out.data(), out.size());
  return out;
}

class UploadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Bimd({"--drain-grace-ms", "500"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { app_ = "u-" + UniqueSuffix(); }

  // `bim deploy DIR --json [extra...]` with `env` added; the JSON document it printed.
  json Deploy(const AppFolder& folder, std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {},
              CommandResult* raw = nullptr) {
    std::vector<std::string> argv = {BuildPath("bim"), "deploy", folder.path(), "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::map<std::string, std::string> full = server_->CliEnv();
    full.insert(env.begin(), env.end());
    CommandResult r = RunProcess(argv, full, 300);
    if (raw) *raw = r;
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out << "\n" << server_->Log().substr(server_->Log().size() > 4000 ? server_->Log().size() - 4000 : 0);
    json doc = r.Json();
    EXPECT_TRUE(doc.is_object()) << r.out;
    std::printf("[ timing ] %s deploy %s: %lld ms, sent %lld bytes\n", app_.c_str(),
                doc.value("release", std::string("?")).c_str(), static_cast<long long>(doc.value("duration_ms", int64_t{-1})),
                static_cast<long long>(doc.is_object() ? doc["upload"].value("sent_bytes", int64_t{-1}) : -1));
    return doc.is_object() ? doc : json::object();
  }
  json Releases() { return server_->Bim({"releases", app_, "--json"}).Json()["releases"]; }
  json Live() { return server_->Bim({"status", app_, "--json"}).Json()["live"]; }

  static Bimd* server_;
  std::string app_;
};

Bimd* UploadTest::server_ = nullptr;

TEST_F(UploadTest, UnchangedRedeployUploadsNoContextAndBuildsNothing) {
  AppFolder folder(app_, "GREETING=same\n");
  json first = Deploy(folder);
  ASSERT_EQ(first.value("release", ""), "v1");
  EXPECT_FALSE(first.value("unchanged", true));
  EXPECT_EQ(first["upload"]["files_sent"], first["upload"]["files"]) << "a first deploy sends every file";

  json again = Deploy(folder);
  EXPECT_TRUE(again.value("unchanged", false)) << again.dump();
  EXPECT_EQ(again.value("release", ""), "v1") << "the live release stays";
  EXPECT_EQ(again["upload"]["content_bytes"], 0) << again.dump();
  EXPECT_EQ(again["upload"]["files_sent"], 0);
  EXPECT_TRUE(again["upload"].value("manifest_delta", false)) << "only a delta against the last manifest";
  EXPECT_LT(again["upload"].value("sent_bytes", int64_t{1 << 30}), 300) << again.dump();
  EXPECT_EQ(Releases().size(), 1u) << "nothing built, nothing recorded: " << Releases().dump();

  // The human output says so, and exits 0.
  CommandResult human = server_->Bim({"deploy", folder.path()});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.err.find("Nothing to deploy: v1 is live with the same build context"), std::string::npos) << human.err;
  EXPECT_NE(human.out.find("v1 is live at"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("unchanged"), std::string::npos) << human.out;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! same\n");

  // Only content counts: touching every file changes nothing.
  for (const auto& e : fs::directory_iterator(folder.path()))
    fs::last_write_time(e.path(), fs::last_write_time(e.path()) + std::chrono::hours(1));
  EXPECT_TRUE(Deploy(folder).value("unchanged", false));

  // But a stopped live container is no reason to do nothing: it is released again from its image.
  std::string container = Live()["container"];
  DockerClient().StopContainer(container, 1);
  json revived = Deploy(folder);
  EXPECT_FALSE(revived.value("unchanged", true));
  EXPECT_EQ(revived.value("release", ""), "v2");
  EXPECT_EQ(revived["details"]["image_id"], first["details"]["image_id"]) << "no rebuild";
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! same\n");
}

TEST_F(UploadTest, OneChangedFileUploadsOnlyThatFile) {
  AppFolder folder(app_, "GREETING=files\n");
  fs::create_directories(folder.path() + "/data");
  for (int i = 0; i < 40; ++i) folder.Write("data/part-" + std::to_string(i) + ".bin", RandomBytes(64 << 10, i));
  folder.Write("Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCOPY data /data\nCMD [\"/hello-server\"]\n");
  json first = Deploy(folder);
  ASSERT_EQ(first.value("release", ""), "v1");
  int64_t total = first["upload"]["bytes"];
  EXPECT_GT(total, 40 * (64 << 10));
  EXPECT_GT(first["upload"].value("content_bytes", int64_t{0}), 40 * (64 << 10)) << "random data does not compress";

  const std::string changed = RandomBytes(1024, 99);
  folder.Write("data/part-7.bin", changed);
  json second = Deploy(folder);
  ASSERT_EQ(second.value("release", ""), "v2") << second.dump();
  const json& up = second["upload"];
  EXPECT_EQ(up["files_sent"], 1) << up.dump();
  EXPECT_GT(up.value("content_bytes", int64_t{0}), 1024) << "the changed file itself";
  EXPECT_LT(up.value("content_bytes", int64_t{0}), 3 * 1024) << up.dump();
  EXPECT_LT(up.value("manifest_bytes", int64_t{0}), 512) << "one delta line, not the whole file list";
  EXPECT_LT(up.value("sent_bytes", int64_t{0}), 4 * 1024) << up.dump();
  // Everything but the changed file was already there (part-7 shrank from 64 KiB to 1 KiB).
  EXPECT_EQ(up.value("reused_bytes", int64_t{0}), total - (64 << 10)) << up.dump();

  // The build saw the new content: it is in the live container, and the image is new.
  json live = Live();
  EXPECT_NE(live["image_id"], first["details"]["image_id"]);
  EXPECT_EQ(FileInContainer(live["container"], "/data/part-7.bin"), changed);
  EXPECT_EQ(FileInContainer(live["container"], "/data/part-8.bin"), RandomBytes(64 << 10, 8));

  // A removed file and a new one: the new one travels, the removal is a manifest line.
  fs::remove(folder.path() + "/data/part-9.bin");
  folder.Write("data/new.txt", "brand new\n");
  json third = Deploy(folder);
  EXPECT_EQ(third["upload"]["files_sent"], 1) << third.dump();
  EXPECT_EQ(FileInContainer(Live()["container"], "/data/new.txt"), "brand new\n");
  EXPECT_EQ(FileInContainer(Live()["container"], "/data/part-9.bin"), "<no archive>") << "removed from the image";
}

TEST_F(UploadTest, EnvOnlyChangeReusesTheLiveImage) {
  AppFolder folder(app_, "GREETING=first\n");
  json first = Deploy(folder);
  ASSERT_EQ(first.value("release", ""), "v1");
  folder.Write(".env", "GREETING=second\n");
  CommandResult raw;
  json second = Deploy(folder, {}, {}, &raw);
  ASSERT_EQ(second.value("release", ""), "v2");
  EXPECT_FALSE(second.value("unchanged", true));
  EXPECT_EQ(second["upload"]["content_bytes"], 0);
  EXPECT_EQ(second["details"]["image_id"], first["details"]["image_id"]) << "no rebuild for an env change";
  EXPECT_EQ(second["details"]["image"], "bim/" + app_ + ":v1");
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! second\n");

  // Back to the first env: v1's image again, no build, no upload.
  folder.Write(".env", "GREETING=first\n");
  CommandResult human = server_->Bim({"deploy", folder.path()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.err.find("Reusing image bim/" + app_ + ":v1"), std::string::npos) << human.err;
  EXPECT_EQ(human.err.find("Building image"), std::string::npos) << human.err;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! first\n");
  // A changed build arg is a changed build.
  folder.Write("bim.toml", "app = \"" + app_ + "\"\nport = 8080\n[health]\npath = \"/healthz\"\n[build.args]\nX = \"1\"\n");
  json rebuilt = Deploy(folder);
  EXPECT_EQ(rebuilt.value("release", ""), "v4");
  EXPECT_EQ(rebuilt["details"]["image"], "bim/" + app_ + ":v4");
}

TEST_F(UploadTest, BuildLocalSendsOnlyTheLayersTheServerLacks) {
  ScratchDockerd laptop;  // the developer's Docker: bimd's dockerd shares nothing with it
  ASSERT_TRUE(laptop.ok()) << laptop.Log();
  const std::map<std::string, std::string> env = {{"DOCKER_HOST", laptop.DockerHost()}};
  AppFolder folder(app_, "GREETING=local\n");
  folder.Write("Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCOPY version.txt /version.txt\n"
                             "CMD [\"/hello-server\"]\n");
  folder.Write("version.txt", "one\n");

  json first = Deploy(folder, {"--build", "local"}, env);
  ASSERT_EQ(first.value("release", ""), "v1") << first.dump();
  const json& up1 = first["upload"];
  EXPECT_EQ(up1["mode"], "image");
  EXPECT_EQ(up1["layers"], 2);
  EXPECT_EQ(up1["layers_sent"], 2) << "bimd had none of them: " << up1.dump();
  EXPECT_GT(up1.value("sent_bytes", int64_t{0}), 100 << 10) << "the hello-server layer travels";
  EXPECT_EQ(up1["image"], first["details"]["image_id"]) << "bimd runs the very image built locally";
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! local\n");

  folder.Write("version.txt", "two\n");
  json second = Deploy(folder, {"--build", "local"}, env);
  ASSERT_EQ(second.value("release", ""), "v2") << second.dump();
  const json& up2 = second["upload"];
  EXPECT_EQ(up2["layers_sent"], 1) << up2.dump();
  EXPECT_EQ(up2["layers_held"], 1);
  EXPECT_GT(up2.value("reused_bytes", int64_t{0}), 100 << 10) << "the unchanged hello-server layer stays home";
  EXPECT_LT(up2.value("sent_bytes", int64_t{1 << 30}), 8 << 10) << up2.dump();
  EXPECT_EQ(FileInContainer(Live()["container"], "/version.txt"), "two\n");

  // Unchanged: the local build hits its cache, the image is the live one, nothing travels.
  json third = Deploy(folder, {"--build", "local"}, env);
  EXPECT_TRUE(third.value("unchanged", false)) << third.dump();
  EXPECT_EQ(third["upload"]["sent_bytes"], 0);
  EXPECT_EQ(Releases().size(), 2u);

  // Env only: the image bimd already has, released again.
  folder.Write(".env", "GREETING=local-env\n");
  json fourth = Deploy(folder, {"--build", "local"}, env);
  EXPECT_EQ(fourth.value("release", ""), "v3");
  EXPECT_EQ(fourth["upload"]["sent_bytes"], 0);
  EXPECT_EQ(fourth["details"]["image_id"], second["details"]["image_id"]);
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! local-env\n");

  // DOCKER_HOST that is not a unix socket: a clear usage error.
  CommandResult bad;
  std::vector<std::string> argv = {BuildPath("bim"), "deploy", folder.path(), "--build", "local"};
  std::map<std::string, std::string> tcp = server_->CliEnv();
  tcp["DOCKER_HOST"] = "tcp://127.0.0.1:2375";
  bad = RunProcess(argv, tcp);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("DOCKER_HOST"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace bim::testing
