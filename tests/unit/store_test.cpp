#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "core/status.h"

namespace bim {
namespace {

namespace fs = std::filesystem;

const std::string kKey(32, 'k');
const std::string kOtherKey(32, 'o');

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/bimd.db";
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  void Reopen(const std::string& key = kKey) {
    store_.reset();
    Status s = Store::Open(path_, key, &store_);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  void MakeApp(const std::string& name, int port = 8080) {
    App a;
    a.name = name;
    a.port = port;
    Status s = store_->PutApp(a);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  Release NewRelease(const std::string& app) {
    Release r;
    r.app = app;
    r.status = release_status::kBuilding;
    Status s = store_->CreateRelease(&r);
    EXPECT_TRUE(s.ok()) << s.message();
    return r;
  }

  // PRAGMA user_version read through a separate raw connection.
  int64_t UserVersion() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(StoreTest, OpenMigratesAndReopenKeepsData) {
  EXPECT_EQ(UserVersion(), 10);  // 1: initial schema, 2: tokens, 3: releases.context_digest, 4: tenants (app resources, read_secrets), 5: cluster settings, 6: release sources, 7: domains and certificates, 8: release log tails, 9: watches, 10: release services
  ASSERT_TRUE(store_->SetMeta("instance_id", "abc123").ok());
  MakeApp("hello");
  Reopen();
  EXPECT_EQ(UserVersion(), 10);
  std::string v;
  ASSERT_TRUE(store_->GetMeta("instance_id", &v).ok());
  EXPECT_EQ(v, "abc123");
  App a;
  EXPECT_TRUE(store_->GetApp("hello", &a).ok());
}

TEST_F(StoreTest, OpenRejectsBadKeyAndNewerSchema) {
  std::unique_ptr<Store> other;
  Status s = Store::Open(dir_ + "/x.db", "short", &other);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(other, nullptr);

  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  s = Store::Open(path_, kKey, &other);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("v99"), std::string::npos) << s.message();
}

TEST_F(StoreTest, MetaGetSetNotFound) {
  std::string v;
  EXPECT_TRUE(store_->GetMeta("missing", &v).IsNotFound());
  ASSERT_TRUE(store_->SetMeta("k", "1").ok());
  ASSERT_TRUE(store_->SetMeta("k", "2").ok());
  ASSERT_TRUE(store_->GetMeta("k", &v).ok());
  EXPECT_EQ(v, "2");
}

TEST_F(StoreTest, PutAppInsertsAndUpdatesKeepingLiveVersion) {
  App a;
  a.name = "hello";
  a.port = 3000;
  a.health_path = "/healthz";
  a.health_timeout_ms = 5000;
  ASSERT_TRUE(store_->PutApp(a).ok());
  Release r = NewRelease("hello");
  ASSERT_TRUE(store_->ActivateRelease("hello", r.version).ok());

  App got;
  ASSERT_TRUE(store_->GetApp("hello", &got).ok());
  EXPECT_EQ(got.port, 3000);
  EXPECT_EQ(got.health_path, "/healthz");
  EXPECT_EQ(got.health_timeout_ms, 5000);
  EXPECT_GT(got.created_at_ms, 0);
  int64_t created = got.created_at_ms;

  a.port = 4000;
  a.health_path = "/up";
  a.live_version = 77;    // ignored
  a.created_at_ms = 1;    // ignored
  ASSERT_TRUE(store_->PutApp(a).ok());
  ASSERT_TRUE(store_->GetApp("hello", &got).ok());
  EXPECT_EQ(got.port, 4000);
  EXPECT_EQ(got.health_path, "/up");
  EXPECT_EQ(got.live_version, r.version);
  EXPECT_EQ(got.created_at_ms, created);
  EXPECT_GE(got.updated_at_ms, created);

  Status s = store_->GetApp("nope", &got);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "no app \"nope\"");
}

TEST_F(StoreTest, ListAppsSortedByName) {
  MakeApp("zeta");
  MakeApp("alpha");
  MakeApp("mid");
  std::vector<App> apps;
  ASSERT_TRUE(store_->ListApps(&apps).ok());
  ASSERT_EQ(apps.size(), 3u);
  EXPECT_EQ(apps[0].name, "alpha");
  EXPECT_EQ(apps[1].name, "mid");
  EXPECT_EQ(apps[2].name, "zeta");
}

TEST_F(StoreTest, CreateReleaseVersionsPerAppNeverReused) {
  MakeApp("a");
  MakeApp("b");
  EXPECT_EQ(NewRelease("a").version, 1);
  EXPECT_EQ(NewRelease("a").version, 2);
  EXPECT_EQ(NewRelease("b").version, 1);
  Release failed = NewRelease("a");
  EXPECT_EQ(failed.version, 3);
  failed.status = release_status::kFailed;
  failed.failure_reason = "build failed";
  ASSERT_TRUE(store_->UpdateRelease(failed).ok());
  Release next = NewRelease("a");
  EXPECT_EQ(next.version, 4);
  EXPECT_GT(next.id, failed.id);
  EXPECT_GT(next.created_at_ms, 0);

  Release orphan;
  orphan.app = "ghost";
  EXPECT_TRUE(store_->CreateRelease(&orphan).IsNotFound());

  // Versions survive a reopen: the counter is stored, not derived from the rows.
  Reopen();
  EXPECT_EQ(NewRelease("a").version, 5);

  // Destroying an app forgets it entirely: an app created later under the same name starts at v1.
  ASSERT_TRUE(store_->DeleteApp("a").ok());
  MakeApp("a");
  EXPECT_EQ(NewRelease("a").version, 1);
}

TEST_F(StoreTest, UpdateAndGetReleaseRoundTripAllFields) {
  MakeApp("hello");
  Release r = NewRelease("hello");
  r.status = release_status::kStarting;
  r.kind = "rollback";
  r.image_tag = "bim/hello:v1";
  r.image_id = "sha256:abc";
  r.container_id = "c0ffee";
  r.container_name = "bim-hello-v1";
  r.host_port = 41234;
  r.git_commit = "deadbeef";
  r.git_dirty = true;
  r.source_digest = "sha256:0123";
  r.env_digest = "d1g35t";
  r.failure_reason = "none";
  r.finished_at_ms = 1700000000123;
  r.build_ms = 11;
  r.health_ms = 22;
  r.total_ms = 33;
  ASSERT_TRUE(store_->UpdateRelease(r).ok());

  Release got;
  ASSERT_TRUE(store_->GetRelease("hello", 1, &got).ok());
  EXPECT_EQ(got.id, r.id);
  EXPECT_EQ(got.app, "hello");
  EXPECT_EQ(got.version, 1);
  EXPECT_EQ(got.status, r.status);
  EXPECT_EQ(got.kind, r.kind);
  EXPECT_EQ(got.image_tag, r.image_tag);
  EXPECT_EQ(got.image_id, r.image_id);
  EXPECT_EQ(got.container_id, r.container_id);
  EXPECT_EQ(got.container_name, r.container_name);
  EXPECT_EQ(got.host_port, r.host_port);
  EXPECT_EQ(got.git_commit, r.git_commit);
  EXPECT_TRUE(got.git_dirty);
  EXPECT_EQ(got.source_digest, r.source_digest);
  EXPECT_EQ(got.env_digest, r.env_digest);
  EXPECT_EQ(got.failure_reason, r.failure_reason);
  EXPECT_EQ(got.created_at_ms, r.created_at_ms);
  EXPECT_EQ(got.finished_at_ms, r.finished_at_ms);
  EXPECT_EQ(got.build_ms, r.build_ms);
  EXPECT_EQ(got.health_ms, r.health_ms);
  EXPECT_EQ(got.total_ms, r.total_ms);

  Status s = store_->GetRelease("hello", 3, &got);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "app \"hello\" has no release v3");
  EXPECT_EQ(store_->GetRelease("nope", 1, &got).message(), "no app \"nope\"");
  Release missing;
  missing.id = 999;
  EXPECT_TRUE(store_->UpdateRelease(missing).IsNotFound());
}

TEST_F(StoreTest, ListReleasesNewestFirstWithLimit) {
  MakeApp("hello");
  MakeApp("other");
  for (int i = 0; i < 5; ++i) NewRelease("hello");
  NewRelease("other");
  std::vector<Release> rs;
  ASSERT_TRUE(store_->ListReleases("hello", 0, &rs).ok());
  ASSERT_EQ(rs.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rs[i].version, 5 - i);
  ASSERT_TRUE(store_->ListReleases("hello", 2, &rs).ok());
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].version, 5);
  EXPECT_EQ(rs[1].version, 4);
  EXPECT_TRUE(store_->ListReleases("nope", 0, &rs).IsNotFound());
  EXPECT_TRUE(rs.empty());
}

TEST_F(StoreTest, ListReleasesWithStatusOldestFirstAcrossApps) {
  MakeApp("a");
  MakeApp("b");
  Release a1 = NewRelease("a");
  Release b1 = NewRelease("b");
  Release a2 = NewRelease("a");
  a2.status = release_status::kStarting;
  ASSERT_TRUE(store_->UpdateRelease(a2).ok());
  b1.status = release_status::kFailed;
  ASSERT_TRUE(store_->UpdateRelease(b1).ok());

  std::vector<Release> rs;
  ASSERT_TRUE(
      store_->ListReleasesWithStatus({release_status::kBuilding, release_status::kStarting}, &rs).ok());
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].id, a1.id);
  EXPECT_EQ(rs[1].id, a2.id);
  ASSERT_TRUE(store_->ListReleasesWithStatus({release_status::kFailed}, &rs).ok());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].app, "b");
  ASSERT_TRUE(store_->ListReleasesWithStatus({}, &rs).ok());
  EXPECT_TRUE(rs.empty());
}

TEST_F(StoreTest, ActivateReleaseRetiresPreviousLive) {
  MakeApp("hello");
  MakeApp("other");
  NewRelease("hello");
  NewRelease("hello");
  NewRelease("other");
  ASSERT_TRUE(store_->ActivateRelease("other", 1).ok());
  ASSERT_TRUE(store_->ActivateRelease("hello", 1).ok());
  ASSERT_TRUE(store_->ActivateRelease("hello", 2).ok());

  Release r;
  ASSERT_TRUE(store_->GetRelease("hello", 1, &r).ok());
  EXPECT_EQ(r.status, release_status::kRetired);
  ASSERT_TRUE(store_->GetRelease("hello", 2, &r).ok());
  EXPECT_EQ(r.status, release_status::kLive);
  ASSERT_TRUE(store_->GetRelease("other", 1, &r).ok());
  EXPECT_EQ(r.status, release_status::kLive) << "another app's live release is untouched";
  App a;
  ASSERT_TRUE(store_->GetApp("hello", &a).ok());
  EXPECT_EQ(a.live_version, 2);

  // A failed activation changes nothing.
  EXPECT_TRUE(store_->ActivateRelease("hello", 9).IsNotFound());
  ASSERT_TRUE(store_->GetApp("hello", &a).ok());
  EXPECT_EQ(a.live_version, 2);
  ASSERT_TRUE(store_->GetRelease("hello", 2, &r).ok());
  EXPECT_EQ(r.status, release_status::kLive);
}

TEST_F(StoreTest, EnvRoundTripPreservesOrder) {
  MakeApp("hello");
  Release r = NewRelease("hello");
  EnvList env{{"ZED", "1"}, {"ALPHA", "two words"}, {"EMPTY", ""}, {"BIN", std::string("a\0b\n", 4)}};
  ASSERT_TRUE(store_->SaveReleaseEnv(r.id, env).ok());
  EnvList got;
  ASSERT_TRUE(store_->LoadReleaseEnv(r.id, &got).ok());
  EXPECT_EQ(got, env);
  // Saving again replaces the rows.
  ASSERT_TRUE(store_->SaveReleaseEnv(r.id, {{"ONLY", "x"}}).ok());
  ASSERT_TRUE(store_->LoadReleaseEnv(r.id, &got).ok());
  EXPECT_EQ(got, (EnvList{{"ONLY", "x"}}));
  EXPECT_TRUE(store_->SaveReleaseEnv(12345, env).IsNotFound());

  ASSERT_TRUE(store_->GetAppEnv("hello", &got).ok());
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(store_->SetAppEnv("hello", env).ok());
  ASSERT_TRUE(store_->GetAppEnv("hello", &got).ok());
  EXPECT_EQ(got, env);
  // A repeated key replaces the earlier value in place, as in a .env file.
  ASSERT_TRUE(store_->SetAppEnv("hello", {{"A", "1"}, {"B", "2"}, {"A", "3"}}).ok());
  ASSERT_TRUE(store_->GetAppEnv("hello", &got).ok());
  EXPECT_EQ(got, (EnvList{{"A", "3"}, {"B", "2"}}));
  EXPECT_TRUE(store_->SetAppEnv("nope", env).IsNotFound());
  EXPECT_TRUE(store_->GetAppEnv("nope", &got).IsNotFound());
}

TEST_F(StoreTest, SecretValuesNeverHitTheDiskInPlainText) {
  const std::string secret = "s3cr3t-value-XYZ";
  MakeApp("hello");
  Release r = NewRelease("hello");
  ASSERT_TRUE(store_->SaveReleaseEnv(r.id, {{"API_KEY", secret}}).ok());
  ASSERT_TRUE(store_->SetAppEnv("hello", {{"API_KEY", secret}}).ok());

  // While open, recent commits live in the -wal file; after close they are checkpointed into the db.
  std::string bytes = FileBytes(path_) + FileBytes(path_ + "-wal");
  EXPECT_NE(bytes.find("API_KEY"), std::string::npos) << "sanity: the key name is stored in plain text";
  EXPECT_EQ(bytes.find(secret), std::string::npos);
  store_.reset();
  bytes = FileBytes(path_) + FileBytes(path_ + "-wal");
  EXPECT_EQ(bytes.find(secret), std::string::npos);
}

TEST_F(StoreTest, WrongKeyCannotDecrypt) {
  MakeApp("hello");
  ASSERT_TRUE(store_->SetAppEnv("hello", {{"API_KEY", "s3cr3t-value-XYZ"}}).ok());
  Reopen(kOtherKey);
  EnvList got{{"STALE", "x"}};
  Status s = store_->GetAppEnv("hello", &got);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(s.message(), "cannot decrypt stored env (wrong secret key file?)");
  EXPECT_TRUE(got.empty());
  Reopen(kKey);
  ASSERT_TRUE(store_->GetAppEnv("hello", &got).ok());
  EXPECT_EQ(got, (EnvList{{"API_KEY", "s3cr3t-value-XYZ"}}));
}

TEST_F(StoreTest, DeleteAppCascades) {
  MakeApp("hello");
  MakeApp("keep");
  Release r = NewRelease("hello");
  Release k = NewRelease("keep");
  ASSERT_TRUE(store_->SaveReleaseEnv(r.id, {{"A", "1"}}).ok());
  ASSERT_TRUE(store_->SaveReleaseEnv(k.id, {{"K", "1"}}).ok());
  ASSERT_TRUE(store_->SetAppEnv("hello", {{"B", "2"}}).ok());
  ASSERT_TRUE(store_->DeleteApp("hello").ok());

  App a;
  EXPECT_TRUE(store_->GetApp("hello", &a).IsNotFound());
  EnvList env;
  EXPECT_TRUE(store_->LoadReleaseEnv(r.id, &env).IsNotFound());
  std::vector<Release> rs;
  ASSERT_TRUE(store_->ListReleasesWithStatus({release_status::kBuilding}, &rs).ok());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].app, "keep");
  ASSERT_TRUE(store_->LoadReleaseEnv(k.id, &env).ok());
  EXPECT_EQ(env.size(), 1u);
  EXPECT_TRUE(store_->DeleteApp("hello").IsNotFound());

  // No orphan rows remain in the env tables.
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM release_env) + (SELECT count(*) FROM app_env)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StoreTest, ReleaseServicesRoundTripInOrderWithTheirEnvEncryptedAndGoWithTheApp) {
  const std::string secret = "db-s3cr3t-value";
  MakeApp("shop");
  Release r = NewRelease("shop");
  std::vector<ReleaseService> none;
  ASSERT_TRUE(store_->LoadReleaseServices(r.id, &none).ok());
  EXPECT_TRUE(none.empty()) << "a release recorded before services were";
  std::vector<ReleaseService> services = {
      {"db", "bim-shop-v1-db", "postgres:16", "sha256:d", "digest-d", R"({"name":"db"})", {{"PASSWORD", secret}}},
      {"web", "bim-shop-v1", "bim/shop:v1", "sha256:w", "digest-w", R"({"name":"web"})", {{"B", "2"}, {"A", "1"}}},
  };
  ASSERT_TRUE(store_->SaveReleaseServices(r.id, services).ok());
  std::vector<ReleaseService> got;
  ASSERT_TRUE(store_->LoadReleaseServices(r.id, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].service, services[i].service);
    EXPECT_EQ(got[i].workload, services[i].workload);
    EXPECT_EQ(got[i].image_tag, services[i].image_tag);
    EXPECT_EQ(got[i].image_id, services[i].image_id);
    EXPECT_EQ(got[i].digest, services[i].digest);
    EXPECT_EQ(got[i].spec, services[i].spec);
    EXPECT_EQ(got[i].env, services[i].env) << "in the order given";
  }
  // Saving again replaces what was recorded.
  services.pop_back();
  ASSERT_TRUE(store_->SaveReleaseServices(r.id, services).ok());
  ASSERT_TRUE(store_->LoadReleaseServices(r.id, &got).ok());
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(store_->SaveReleaseServices(99999, services).code(), Code::kNotFound);
  EXPECT_EQ(store_->LoadReleaseServices(99999, &got).code(), Code::kNotFound);

  std::string bytes = FileBytes(path_) + FileBytes(path_ + "-wal");
  EXPECT_EQ(bytes.find(secret), std::string::npos) << "service env values are encrypted like every env";
  ASSERT_TRUE(store_->DeleteApp("shop").ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM release_services) + (SELECT count(*) FROM release_service_env)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0) << "no orphan rows";
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StoreTest, AuditNewestFirstFilteredByApp) {
  AuditEntry e1{0, 0, "admin", "deploy", "hello", "ok", "hello-v1"};
  AuditEntry e2{0, 0, "ci", "token.create", "", "ok", ""};
  AuditEntry e3{0, 42, "admin", "destroy", "hello", "ok", ""};
  ASSERT_TRUE(store_->AppendAudit(&e1).ok());
  ASSERT_TRUE(store_->AppendAudit(&e2).ok());
  ASSERT_TRUE(store_->AppendAudit(&e3).ok());
  EXPECT_GT(e1.id, 0);
  EXPECT_GT(e2.id, e1.id);
  EXPECT_GT(e1.at_ms, 0);
  EXPECT_EQ(e3.at_ms, 42) << "a given timestamp is kept";

  std::vector<AuditEntry> all;
  ASSERT_TRUE(store_->ListAudit("", 0, &all).ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, e3.id);
  EXPECT_EQ(all[2].id, e1.id);
  EXPECT_EQ(all[2].actor, "admin");
  EXPECT_EQ(all[2].action, "deploy");
  EXPECT_EQ(all[2].result, "ok");
  EXPECT_EQ(all[2].detail, "hello-v1");

  ASSERT_TRUE(store_->ListAudit("hello", 0, &all).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].action, "destroy");
  EXPECT_EQ(all[1].action, "deploy");
  ASSERT_TRUE(store_->ListAudit("", 1, &all).ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, e3.id);
}

TEST_F(StoreTest, ConcurrentCreateReleaseYieldsUniqueVersions) {
  MakeApp("hello");
  constexpr int kThreads = 8, kPerThread = 25;
  std::vector<std::vector<int64_t>> versions(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Release r;
        r.app = "hello";
        if (store_->CreateRelease(&r).ok()) versions[t].push_back(r.version);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& v : versions) all.insert(v.begin(), v.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
}

}  // namespace
}  // namespace bim

namespace bim {
namespace {

// Tenants: an app's resource requests persist (rollbacks and env releases run with them), a token's
// read_secrets flag persists, and destroying an app revokes exactly the tokens limited to it.
TEST_F(StoreTest, TenantFieldsPersistAndDeleteRevokesTheAppsTokens) {
  App app;
  app.name = "hello";
  app.resources = {64 << 20, 500'000'000, 48};
  app.build_timeout_ms = 3000;
  ASSERT_TRUE(store_->PutApp(app).ok());
  ApiToken scoped{0, "scoped", std::string(64, 'a'), "hello", 0, 0, 0, true};
  ApiToken other{0, "other", std::string(64, 'b'), "keep", 0, 0, 0, false};
  ApiToken admin{0, "wide", std::string(64, 'c'), "", 0, 0, 0, false};
  for (ApiToken* t : {&scoped, &other, &admin}) ASSERT_TRUE(store_->CreateToken(t).ok());
  Reopen();
  App got;
  ASSERT_TRUE(store_->GetApp("hello", &got).ok());
  EXPECT_EQ(got.resources, app.resources);
  EXPECT_EQ(got.build_timeout_ms, 3000);
  ApiToken found;
  ASSERT_TRUE(store_->FindTokenByHash(scoped.hash, &found).ok());
  EXPECT_TRUE(found.read_secrets);

  ASSERT_TRUE(store_->DeleteApp("hello").ok());
  ASSERT_TRUE(store_->FindTokenByHash(scoped.hash, &found).ok());
  EXPECT_NE(found.revoked_at_ms, 0) << "the app's token is revoked with it";
  ASSERT_TRUE(store_->FindTokenByHash(other.hash, &found).ok());
  EXPECT_EQ(found.revoked_at_ms, 0) << "another app's token is not";
  ASSERT_TRUE(store_->FindTokenByHash(admin.hash, &found).ok());
  EXPECT_EQ(found.revoked_at_ms, 0) << "an unscoped token is not";
}

}  // namespace
}  // namespace bim
