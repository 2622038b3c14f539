// The git deployment history on the real stack: a real bimd keeps <data_dir>/history, and the real
// `bim history` reads it through the API. Secrets from .env and `bim env set` must appear nowhere in
// the repository, which is checked by reading every file and every git object (through libgit2).
#include <git2.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Every plain file under `dir` (working tree, index, refs) plus every object in its git object
// database, inflated by libgit2 (loose objects are zlib-compressed, so reading the files alone would
// not see what is inside them).
std::vector<std::string> EverythingIn(const std::string& dir) {
  std::vector<std::string> all;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    all.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  git_libgit2_init();
  git_repository* repo = nullptr;
  git_odb* odb = nullptr;
  EXPECT_EQ(git_repository_open(&repo, dir.c_str()), 0);
  EXPECT_EQ(git_repository_odb(&odb, repo), 0);
  struct Ctx {
    git_odb* odb;
    std::vector<std::string>* all;
    int objects = 0;
  } ctx{odb, &all};
  EXPECT_EQ(git_odb_foreach(
                odb,
                [](const git_oid* id, void* payload) {
                  auto* c = static_cast<Ctx*>(payload);
                  git_odb_object* obj = nullptr;
                  if (git_odb_read(&obj, c->odb, id) != 0) return -1;
                  c->all->emplace_back(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
                  git_odb_object_free(obj);
                  ++c->objects;
                  return 0;
                },
                &ctx),
            0);
  EXPECT_GT(ctx.objects, 10);
  git_odb_free(odb);
  git_repository_free(repo);
  git_libgit2_shutdown();
  return all;
}

TEST(HistoryIntegrationTest, EveryReleaseIsACommitAndNoSecretReachesTheRepository) {
  Bimd server({"--drain-grace-ms", "500"});
  const std::string app = "h-" + UniqueSuffix();
  const std::string secret1 = "first-secret-" + UniqueSuffix();
  const std::string secret2 = "second-secret-" + UniqueSuffix();
  const std::string secret3 = "third-secret-" + UniqueSuffix();

  AppFolder folder(app, "GREETING=hi\nAPI_TOKEN=" + secret1 + "\n");
  CommandResult r = server.Bim({"deploy", folder.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << server.Log();
  folder.Write(".env", "GREETING=again\nAPI_TOKEN=\"" + secret2 + "\"\nDB_PASSWORD=" + secret2 + "x\n");
  r = server.Bim({"deploy", folder.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << server.Log();

  r = server.Bim({"history", app, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = r.Json();
  ASSERT_TRUE(doc.is_object()) << r.out;
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["app"], app);
  ASSERT_EQ(doc["commits"].size(), 2u) << doc.dump(2);
  EXPECT_EQ(doc["commits"][0]["release"], "v2");
  EXPECT_EQ(doc["commits"][1]["release"], "v1");
  EXPECT_EQ(doc["commits"][0]["kind"], "deploy");
  EXPECT_EQ(doc["commits"][0]["summary"].get<std::string>().rfind(app + " v2: deploy of ", 0), 0u) << doc.dump(2);
  const json& record = doc["commits"][0]["record"];
  EXPECT_EQ(record["env_keys"], json({"API_TOKEN", "DB_PASSWORD", "GREETING"}));
  EXPECT_EQ(record["health"]["path"], "/healthz");
  EXPECT_EQ(record["port"], 8080);
  EXPECT_EQ(record["url"], "http://" + app + ".localhost:" + std::to_string(server.http_port()) + "/");
  EXPECT_EQ(record["image"], "bim/" + app + ":v1") << "an env-only deploy reuses v1's image";
  EXPECT_EQ(record["image_id"].get<std::string>().rfind("sha256:", 0), 0u);
  EXPECT_EQ(r.err, "");

  // A rollback and an env change are commits too, and the destroy removes the file.
  ASSERT_EQ(server.Bim({"rollback", app, "--to", "v1", "--json"}).exit_code, 0) << server.Log();
  ASSERT_EQ(server.Bim({"env", "set", app, "NEW_SECRET=" + secret3, "--json"}).exit_code, 0) << server.Log();
  ASSERT_EQ(server.Bim({"destroy", app, "--yes", "--json"}).exit_code, 0) << server.Log();

  r = server.Bim({"history", app, "--limit", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = r.Json();
  ASSERT_EQ(doc["commits"].size(), 3u) << doc.dump(2);
  EXPECT_EQ(doc["commits"][0]["change"], "destroyed");
  EXPECT_EQ(doc["commits"][0]["summary"], app + ": destroyed (was v4)");
  EXPECT_EQ(doc["commits"][1]["kind"], "env");
  EXPECT_EQ(doc["commits"][1]["summary"].get<std::string>().rfind(app + " v4: env change (added NEW_SECRET; ", 0), 0u)
      << doc.dump(2);
  EXPECT_EQ(doc["commits"][2]["summary"], app + " v3: rollback to v1");

  // Human output: one line per commit, newest first, with a date.
  r = server.Bim({"history", app});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(app + ": destroyed (was v4)"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("v4: env change"), r.out.find("v1: deploy of"));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5) << r.out;

  const std::string dir = server.data_dir() + "/history";
  EXPECT_FALSE(fs::exists(dir + "/apps/" + app + ".json"));
  bool saw_key = false;
  for (const auto& content : EverythingIn(dir)) {
    for (const auto& secret : {secret1, secret2, secret3}) EXPECT_EQ(content.find(secret), std::string::npos) << content;
    saw_key = saw_key || content.find("NEW_SECRET") != std::string::npos;
  }
  EXPECT_TRUE(saw_key) << "the scan reached the records (they name the keys)";

  // Bad input and scoping go through the usual paths.
  r = server.Bim({"history", "Bad_Name"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = server.Bim({"history", "never-" + UniqueSuffix(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["commits"].size(), 0u);
}

}  // namespace
}  // namespace bim::testing
