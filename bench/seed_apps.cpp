// bim-bench-seed: registers many apps in a stopped bimd's database, for measuring bimd at scale
// without running thousands of containers (bench/upload_bench.sh).
//
//   bim-bench-seed DATA_DIR COUNT PREFIX TEMPLATE_APP
//
// Adds apps PREFIX-00001 ... PREFIX-<COUNT>, each with one live release that copies TEMPLATE_APP's live
// release (same image, container and port), as if each had been deployed once. All rows go in one
// transaction. bimd must not be running on DATA_DIR (it holds bimd.lock).
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

int Fail(sqlite3* db, const char* what) {
  std::fprintf(stderr, "bim-bench-seed: %s: %s\n", what, db ? sqlite3_errmsg(db) : "cannot open");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: bim-bench-seed DATA_DIR COUNT PREFIX TEMPLATE_APP\n");
    return 2;
  }
  const std::string db_path = std::string(argv[1]) + "/bim.db";
  const int count = std::atoi(argv[2]);
  const std::string prefix = argv[3], tmpl = argv[4];
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return Fail(db, "open");
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return Fail(db, "begin");

  sqlite3_stmt* app = nullptr;
  sqlite3_stmt* release = nullptr;
  // The template's settings and live release, copied by SQL so every column keeps its meaning.
  const char* kApp =
      "INSERT INTO apps(name, port, health_path, health_timeout_ms, live_version, next_version, created_at_ms, "
      "updated_at_ms) SELECT ?1, port, health_path, health_timeout_ms, 1, 2, created_at_ms, updated_at_ms "
      "FROM apps WHERE name = ?2";
  const char* kRelease =
      "INSERT INTO releases(app, version, status, kind, image_tag, image_id, container_id, container_name, "
      "host_port, git_commit, env_digest, failure_reason, created_at_ms, finished_at_ms, build_ms, health_ms, "
      "total_ms) SELECT ?1, 1, 'live', 'deploy', r.image_tag, r.image_id, r.container_id, r.container_name, "
      "r.host_port, r.git_commit, r.env_digest, '', r.created_at_ms, r.finished_at_ms, r.build_ms, r.health_ms, "
      "r.total_ms FROM apps a JOIN releases r ON r.app = a.name AND r.version = a.live_version WHERE a.name = ?2";
  if (sqlite3_prepare_v2(db, kApp, -1, &app, nullptr) != SQLITE_OK) return Fail(db, "prepare apps");
  if (sqlite3_prepare_v2(db, kRelease, -1, &release, nullptr) != SQLITE_OK) return Fail(db, "prepare releases");
  for (int i = 1; i <= count; ++i) {
    char name[128];
    std::snprintf(name, sizeof name, "%s-%05d", prefix.c_str(), i);
    for (sqlite3_stmt* q : {app, release}) {
      sqlite3_reset(q);
      sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(q, 2, tmpl.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(q) != SQLITE_DONE) return Fail(db, "insert");
      if (sqlite3_changes(db) != 1) {
        std::fprintf(stderr, "bim-bench-seed: template app %s has no live release\n", tmpl.c_str());
        return 1;
      }
    }
  }
  sqlite3_finalize(app);
  sqlite3_finalize(release);
  if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return Fail(db, "commit");
  sqlite3_close(db);
  std::printf("seeded %d apps\n", count);
  return 0;
}
