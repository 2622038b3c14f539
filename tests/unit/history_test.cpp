// DeployHistory on a real libgit2 repository in a temp dir, with a real (SQLite) Store for app settings.
#include "server/history.h"

#include <git2.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/deploy_plan.h"

namespace bim {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char kSecret[] = "s3cr3t-value-7f9a2c";
const char kOtherSecret[] = "another-secret-4b8e1d";

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-history-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    repo_dir_ = tmp_ + "/history";
    ASSERT_TRUE(Store::Open(tmp_ + "/bim.db", std::string(32, 'k'), &store_).ok());
    git_libgit2_init();
    Open();
  }
  void TearDown() override {
    history_.reset();
    store_.reset();
    git_libgit2_shutdown();
    fs::remove_all(tmp_);
  }

  void Open() {
    history_.reset();
    history_ = std::make_unique<DeployHistory>();
    HistoryOptions o;
    o.domain = "example.test";
    o.url_for = [](const std::string& app) { return "http://" + app + ".example.test:8080/"; };
    o.store = store_.get();
    Status s = history_->Open(repo_dir_, o);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // Records a release of `app` as live in the store, the way the Deployer does before OnLive.
  Release MakeLive(const std::string& app, const std::string& kind, const EnvList& env, std::string image_tag = "",
                   const std::string& git_commit = "") {
    App a;
    if (!store_->GetApp(app, &a).ok()) {
      a.name = app;
      a.port = 9090;
      a.health_path = "/healthz";
      a.health_timeout_ms = 12000;
      EXPECT_TRUE(store_->PutApp(a).ok());
    }
    Release r;
    r.app = app;
    r.kind = kind;
    r.status = release_status::kBuilding;
    r.git_commit = git_commit;
    r.env_digest = store_->DigestEnv(env);
    EXPECT_TRUE(store_->CreateRelease(&r).ok());
    EXPECT_TRUE(store_->SaveReleaseEnv(r.id, env).ok());
    r.image_tag = image_tag.empty() ? "bim/" + app + ":" + ReleaseName(r.version) : image_tag;
    r.image_id = "sha256:" + std::string(64, static_cast<char>('0' + r.version % 10));
    r.status = release_status::kLive;
    r.finished_at_ms = 1700000000000 + r.version;
    EXPECT_TRUE(store_->UpdateRelease(r).ok());
    EXPECT_TRUE(store_->ActivateRelease(app, r.version).ok());
    return r;
  }

  json Log(const std::string& app, int limit = 0) {
    json out;
    Status s = history_->Log(app, limit, &out);
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  int CountCommits() {
    git_repository* repo = nullptr;
    EXPECT_EQ(git_repository_open(&repo, repo_dir_.c_str()), 0);
    git_revwalk* walk = nullptr;
    git_revwalk_new(&walk, repo);
    git_revwalk_push_head(walk);
    git_oid id;
    int n = 0;
    while (git_revwalk_next(&id, walk) == 0) ++n;
    git_revwalk_free(walk);
    git_repository_free(repo);
    return n;
  }

  // Every object in the repository's object database (blobs, trees, commits with their messages),
  // decompressed by libgit2, plus every plain file (working tree, index, refs, config).
  std::vector<std::string> EverythingInTheRepository() {
    std::vector<std::string> all;
    git_repository* repo = nullptr;
    EXPECT_EQ(git_repository_open(&repo, repo_dir_.c_str()), 0);
    git_odb* odb = nullptr;
    EXPECT_EQ(git_repository_odb(&odb, repo), 0);
    struct Ctx {
      git_odb* odb;
      std::vector<std::string>* all;
    } ctx{odb, &all};
    int rc = git_odb_foreach(
        odb,
        [](const git_oid* id, void* payload) {
          auto* c = static_cast<Ctx*>(payload);
          git_odb_object* obj = nullptr;
          if (git_odb_read(&obj, c->odb, id) != 0) return -1;
          c->all->emplace_back(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
          git_odb_object_free(obj);
          return 0;
        },
        &ctx);
    EXPECT_EQ(rc, 0);
    git_odb_free(odb);
    git_repository_free(repo);
    for (const auto& e : fs::recursive_directory_iterator(repo_dir_))
      if (e.is_regular_file()) all.push_back(ReadAll(e.path()));
    return all;
  }

  std::string tmp_, repo_dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DeployHistory> history_;
};

TEST_F(HistoryTest, OpenMakesAnInitialCommitOnce) {
  EXPECT_EQ(CountCommits(), 1);
  EXPECT_TRUE(fs::exists(repo_dir_ + "/README.md"));
  Open();
  EXPECT_EQ(CountCommits(), 1) << "reopening an existing history adds nothing";
  EXPECT_EQ(Log("hello").size(), 0u);
}

TEST_F(HistoryTest, EachLiveReleaseIsOneCommitWithTheRecordNewestFirst) {
  Release v1 = MakeLive("hello", "deploy", {{"GREETING", kSecret}, {"API_KEY", kOtherSecret}}, "",
                        "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d");
  history_->OnLive(v1, {{"GREETING", kSecret}, {"API_KEY", kOtherSecret}});
  Release v2 = MakeLive("hello", "deploy", {{"GREETING", kOtherSecret}});
  history_->OnLive(v2, {{"GREETING", kOtherSecret}});
  EXPECT_EQ(CountCommits(), 3);

  json log = Log("hello");
  ASSERT_EQ(log.size(), 2u) << log.dump(2);
  EXPECT_EQ(log[0]["release"], "v2");
  EXPECT_EQ(log[1]["release"], "v1");
  EXPECT_EQ(log[1]["summary"], "hello v1: deploy of 1a2b3c4 (env digest " + v1.env_digest.substr(0, 8) + ")");
  EXPECT_EQ(log[0]["summary"], "hello v2: deploy of a folder outside git (env digest " + v2.env_digest.substr(0, 8) + ")");
  EXPECT_EQ(log[0]["change"], "live");
  EXPECT_EQ(log[0]["sha"].get<std::string>().size(), 40u);
  EXPECT_GE(log[0]["time_ms"].get<int64_t>(), log[1]["time_ms"].get<int64_t>());
  EXPECT_GT(log[0]["time_ms"].get<int64_t>(), 1600000000000);

  const json& r1 = log[1]["record"];
  EXPECT_EQ(r1["app"], "hello");
  EXPECT_EQ(r1["version"], 1);
  EXPECT_EQ(r1["kind"], "deploy");
  EXPECT_EQ(r1["image"], "bim/hello:v1");
  EXPECT_EQ(r1["image_id"], v1.image_id);
  EXPECT_EQ(r1["git_commit"], "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d");
  EXPECT_EQ(r1["env_keys"], json({"API_KEY", "GREETING"}));
  EXPECT_EQ(r1["env_digest"], v1.env_digest);
  EXPECT_EQ(r1["port"], 9090);
  EXPECT_EQ(r1["health"], json({{"path", "/healthz"}, {"timeout_ms", 12000}}));
  EXPECT_EQ(r1["host"], "hello.example.test");
  EXPECT_EQ(r1["url"], "http://hello.example.test:8080/");
  EXPECT_EQ(log[0]["record"]["env_keys"], json({"GREETING"}));

  // The working tree shows the live release, the same bytes as HEAD.
  json file = json::parse(ReadAll(repo_dir_ + "/apps/hello.json"));
  EXPECT_EQ(file, log[0]["record"]);
  EXPECT_EQ(Log("hello", 1).size(), 1u);
  EXPECT_EQ(Log("other").size(), 0u);
}

TEST_F(HistoryTest, NoEnvValueAnywhereInTheRepository) {
  EnvList env{{"GREETING", kSecret}, {"DB_PASSWORD", kOtherSecret}};
  history_->OnLive(MakeLive("hello", "deploy", env), env);
  EnvList changed{{"GREETING", kSecret}, {"NEW_KEY", kOtherSecret}};
  history_->OnLive(MakeLive("hello", "env", changed, "bim/hello:v1"), changed);
  history_->OnDestroyed("hello");
  std::vector<std::string> everything = EverythingInTheRepository();
  ASSERT_GT(everything.size(), 10u) << "commits, trees and blobs were walked";
  bool saw_key = false;
  for (const auto& content : everything) {
    EXPECT_EQ(content.find(kSecret), std::string::npos) << content;
    EXPECT_EQ(content.find(kOtherSecret), std::string::npos) << content;
    saw_key = saw_key || content.find("DB_PASSWORD") != std::string::npos;
  }
  EXPECT_TRUE(saw_key) << "key names are recorded, so the scan did look at the records";
}

TEST_F(HistoryTest, DestroyCommitsTheRemovalAndKeepsTheLog) {
  history_->OnLive(MakeLive("hello", "deploy", {}), {});
  history_->OnLive(MakeLive("keep", "deploy", {}), {});
  history_->OnDestroyed("hello");
  EXPECT_EQ(CountCommits(), 4);
  EXPECT_FALSE(fs::exists(repo_dir_ + "/apps/hello.json"));
  EXPECT_TRUE(fs::exists(repo_dir_ + "/apps/keep.json"));
  json log = Log("hello");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["change"], "destroyed");
  EXPECT_EQ(log[0]["summary"], "hello: destroyed (was v1)");
  EXPECT_TRUE(log[0]["record"].is_null());
  EXPECT_EQ(log[1]["release"], "v1");

  history_->OnDestroyed("hello");  // already gone
  history_->OnDestroyed("never-deployed");
  EXPECT_EQ(CountCommits(), 4) << "removing a file that is not there makes no commit";
}

TEST_F(HistoryTest, ReopenKeepsHistoryAndReadLogSeesIt) {
  history_->OnLive(MakeLive("hello", "deploy", {}), {});
  history_->OnLive(MakeLive("hello", "deploy", {}), {});
  Open();
  EXPECT_EQ(CountCommits(), 3);
  json log = Log("hello");
  ASSERT_EQ(log.size(), 2u);
  json read;
  ASSERT_TRUE(DeployHistory::ReadLog(repo_dir_, "hello", 0, &read).ok());
  EXPECT_EQ(read, log);
  Status s = DeployHistory::ReadLog(tmp_ + "/nope", "hello", 0, &read);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.message();
}

TEST_F(HistoryTest, RollbackAndEnvMessagesNameTheTargetAndTheKeys) {
  EnvList one{{"A", "1"}}, two{{"A", "2"}, {"B", "x"}};
  history_->OnLive(MakeLive("hello", "deploy", one), one);
  history_->OnLive(MakeLive("hello", "deploy", two), two);
  EnvList three{{"B", "x"}, {"C", "y"}};
  Release v3 = MakeLive("hello", "env", three, "bim/hello:v2");
  history_->OnLive(v3, three);
  // Rolling back to v1 re-runs v1's image with v1's env.
  Release v4 = MakeLive("hello", "rollback", one, "bim/hello:v1");
  history_->OnLive(v4, one);
  json log = Log("hello");
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[1]["summary"], "hello v3: env change (added C; removed A; env digest " +
                                   store_->DigestEnv(two).substr(0, 8) + " -> " + store_->DigestEnv(three).substr(0, 8) + ")");
  EXPECT_EQ(log[0]["summary"], "hello v4: rollback to v1");
  EXPECT_EQ(log[0]["kind"], "rollback");
  EXPECT_EQ(log[0]["record"]["rollback_to"], "v1");
  // A rollback to v3 (an env release of v2's image) names v3, not the release that built the image.
  Release v5 = MakeLive("hello", "rollback", three, "bim/hello:v2");
  history_->OnLive(v5, three);
  EXPECT_EQ(Log("hello", 1)[0]["summary"], "hello v5: rollback to v3");
  EXPECT_NE(log[0]["message"].get<std::string>().find("Env keys: A\n"), std::string::npos) << log[0]["message"];
}

TEST_F(HistoryTest, OpenRecordsReleasesThatWentLiveWithoutIt) {
  Release v1 = MakeLive("old", "deploy", {{"K", kSecret}});
  Release v2 = MakeLive("old", "deploy", {{"K", kSecret}});
  Open();  // e.g. the data dir predates the history, or bimd crashed before the commit
  json log = Log("old");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["release"], "v2");
  EXPECT_EQ(log[0]["summary"], "old v2: recorded (deploy that went live before the history saw it)");
  EXPECT_EQ(log[0]["record"]["env_keys"], json({"K"}));
  Open();
  EXPECT_EQ(Log("old").size(), 1u) << "an app already recorded at its live release is left alone";
}

TEST_F(HistoryTest, ConcurrentReleasesOfManyAppsAreAllCommitted) {
  constexpr int kApps = 8;
  std::vector<Release> releases;
  for (int i = 0; i < kApps; ++i) releases.push_back(MakeLive("app" + std::to_string(i), "deploy", {}));
  std::vector<std::thread> threads;
  for (int i = 0; i < kApps; ++i)
    threads.emplace_back([&, i] {
      Status s = history_->RecordLive(releases[i], {});
      EXPECT_TRUE(s.ok()) << s.message();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(CountCommits(), kApps + 1);
  for (int i = 0; i < kApps; ++i) EXPECT_EQ(Log("app" + std::to_string(i)).size(), 1u);
}

TEST_F(HistoryTest, AnUnchangedRecordMakesNoCommit) {
  Release v1 = MakeLive("hello", "deploy", {});
  ASSERT_TRUE(history_->RecordLive(v1, {}).ok());
  ASSERT_TRUE(history_->RecordLive(v1, {}).ok());
  EXPECT_EQ(CountCommits(), 2);
}

}  // namespace
}  // namespace bim
