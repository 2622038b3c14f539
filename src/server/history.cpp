#include "server/history.h"

#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string_view>

#include "base/file_util.h"
#include "base/git_ptr.h"
#include "core/deploy_plan.h"

namespace bim {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

using Commit = GitPtr<git_commit, git_commit_free>;
using Tree = GitPtr<git_tree, git_tree_free>;
using TreeEntry = GitPtr<git_tree_entry, git_tree_entry_free>;
using Blob = GitPtr<git_blob, git_blob_free>;
using Index = GitPtr<git_index, git_index_free>;
using Signature = GitPtr<git_signature, git_signature_free>;
using Revwalk = GitPtr<git_revwalk, git_revwalk_free>;
using Repository = GitPtr<git_repository, git_repository_free>;

Status GitError(const std::string& what) {
  return Status::Internal("deployment history: " + what + ": " + GitLastError());
}

const char kReadme[] =
    "# bimd deployment history\n\n"
    "bimd writes this repository: apps/<app>.json describes each app's live release (image, source\n"
    "commit, env key names and digest, health settings, URL). Every release that goes live and every\n"
    "rollback or env change is one commit; destroying an app removes its file. Env values are never\n"
    "written here. Read it with `bim history APP` or `git log -p`; do not commit to it by hand.\n";

// The blob id of `path` in `tree`; false if the path is absent.
bool EntryId(git_tree* tree, const std::string& path, git_oid* id) {
  TreeEntry entry;
  if (git_tree_entry_bypath(entry.out(), tree, path.c_str()) != 0) return false;
  git_oid_cpy(id, git_tree_entry_id(entry.get()));
  return true;
}

Status ReadBlob(git_repository* repo, const git_oid& id, std::string* out) {
  Blob blob;
  if (git_blob_lookup(blob.out(), repo, &id) != 0) return GitError("reading a recorded file");
  out->assign(static_cast<const char*>(git_blob_rawcontent(blob.get())),
              static_cast<size_t>(git_blob_rawsize(blob.get())));
  return Status::OK();
}

// Walks first-parent history from HEAD (bimd only ever writes a straight line) and collects the
// commits whose apps/<app>.json differs from their parent's.
Status LogFrom(git_repository* repo, const std::string& app, int limit, json* out) {
  *out = json::array();
  if (git_repository_head_unborn(repo) == 1) return Status::OK();
  Revwalk walk;
  if (git_revwalk_new(walk.out(), repo) != 0) return GitError("starting the log");
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL);
  git_revwalk_simplify_first_parent(walk.get());
  if (git_revwalk_push_head(walk.get()) != 0) return GitError("reading HEAD");
  const std::string path = DeployHistory::AppPath(app);
  git_oid id;
  while (git_revwalk_next(&id, walk.get()) == 0) {
    Commit commit;
    Tree tree;
    if (git_commit_lookup(commit.out(), repo, &id) != 0)
      return GitError("reading commit " + std::string(git_oid_tostr_s(&id)));
    // Every message bimd writes starts with the app's name ("hello v3: ...", "hello: destroyed"), so
    // other apps' commits are skipped without parsing their trees: apps/ holds one entry per app, and
    // reading it for every commit made a log over 3,000 commits of 2,000 apps take a second.
    std::string_view message = git_commit_message(commit.get());
    if (!message.starts_with(app + " ") && !message.starts_with(app + ":") && !message.starts_with("history: ")) continue;
    if (git_commit_tree(tree.out(), commit.get()) != 0)
      return GitError("reading the tree of " + std::string(git_oid_tostr_s(&id)));
    git_oid mine, theirs;
    bool here = EntryId(tree.get(), path, &mine);
    bool before = false;
    if (git_commit_parentcount(commit.get()) > 0) {
      Commit parent;
      Tree parent_tree;
      if (git_commit_parent(parent.out(), commit.get(), 0) != 0 || git_commit_tree(parent_tree.out(), parent.get()) != 0)
        return GitError("reading the parent of " + std::string(git_oid_tostr_s(&id)));
      before = EntryId(parent_tree.get(), path, &theirs);
    }
    if (here == before && (!here || git_oid_equal(&mine, &theirs))) continue;

    const char* summary = git_commit_summary(commit.get());
    json entry{{"sha", git_oid_tostr_s(&id)},
               {"message", git_commit_message(commit.get())},
               {"summary", summary ? summary : ""},
               {"time_ms", static_cast<int64_t>(git_commit_time(commit.get())) * 1000},
               {"change", here ? "live" : "destroyed"},
               {"release", nullptr},
               {"kind", nullptr},
               {"record", nullptr}};
    if (here) {
      std::string content;
      if (Status s = ReadBlob(repo, mine, &content); !s.ok()) return s;
      json record = json::parse(content, nullptr, false);
      if (!record.is_discarded()) {
        if (record.contains("release")) entry["release"] = record["release"];
        if (record.contains("kind")) entry["kind"] = record["kind"];
        entry["record"] = record;
      }
    }
    out->push_back(std::move(entry));
    if (limit > 0 && static_cast<int>(out->size()) >= limit) break;
  }
  return Status::OK();
}

std::string Short(const std::string& s, size_t n) { return s.substr(0, std::min(n, s.size())); }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

DeployHistory::DeployHistory() { git_libgit2_init(); }

DeployHistory::~DeployHistory() {
  if (repo_) git_repository_free(repo_);
  git_libgit2_shutdown();
}

std::string DeployHistory::AppPath(const std::string& app) { return "apps/" + app + ".json"; }

Status DeployHistory::Open(const std::string& dir, HistoryOptions options) {
  std::lock_guard<std::mutex> lock(mu_);
  if (repo_) return Status::FailedPrecondition("deployment history is already open at " + dir_);
  options_ = std::move(options);
  dir_ = dir;
  if (Status s = MakeDirs(dir + "/apps", 0700); !s.ok()) return s.Wrap("creating the deployment history");
  if (git_repository_open_ext(&repo_, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
    if (git_repository_init(&repo_, dir.c_str(), 0) != 0)
      return GitError("creating a repository in " + dir + " (check that the directory is writable)");
  }
  if (git_repository_is_bare(repo_))
    return Status::FailedPrecondition(dir + " is a bare git repository; move it away so bimd can create its history there");
  if (git_repository_head_unborn(repo_) == 1) {
    std::string readme(kReadme);
    bool committed = false;
    if (Status s = CommitFile("README.md", &readme, "history: start of bimd's deployment record", &committed); !s.ok())
      return s;
  }
  return options_.store ? Backfill() : Status::OK();
}

Status DeployHistory::Backfill() {
  std::vector<App> apps;
  if (Status s = options_.store->ListApps(&apps); !s.ok()) return s.Wrap("listing apps for the deployment history");
  // Live but not (or not as this release) in the history: releases older than the history, or a crash
  // between going live and the commit. One commit for all of them: a commit per app would rewrite the
  // index and the apps/ tree once per app, which at 10,000 apps takes minutes.
  std::vector<std::string> files, names, messages;
  for (const App& app : apps) {
    if (app.live_version <= 0) continue;
    std::string content;
    if (ReadHeadFile(AppPath(app.name), &content).ok()) {
      json old = json::parse(content, nullptr, false);
      if (!old.is_discarded() && old.value("version", int64_t{0}) == app.live_version) continue;
    }
    Release live;
    EnvList env;
    if (Status s = options_.store->GetRelease(app.name, app.live_version, &live); !s.ok()) return s;
    if (Status s = options_.store->LoadReleaseEnv(live.id, &env); !s.ok()) return s;
    ordered_json record;
    files.push_back(RecordFor(live, env, &record));
    names.push_back(app.name);
    messages.push_back(app.name + " " + ReleaseName(live.version) + ": recorded (" + live.kind +
                       " that went live before the history saw it)\n");
  }
  if (!files.empty()) {
    std::vector<std::pair<std::string, const std::string*>> changes;
    std::string message;
    for (size_t i = 0; i < files.size(); ++i) changes.emplace_back(AppPath(names[i]), &files[i]);
    if (files.size() == 1) {
      message = messages[0];
    } else {
      message = "history: recorded " + std::to_string(files.size()) + " live releases the history had not seen\n\n";
      for (const auto& m : messages) message += m;
    }
    bool committed = false;
    if (Status s = CommitFiles(changes, message, &committed); !s.ok()) return s;
  }
  // Recorded but no longer in the database: a destroy that bimd stopped before the history saw it.
  std::set<std::string> known;
  for (const App& app : apps) known.insert(app.name);
  std::vector<std::string> recorded;
  if (Status s = HeadAppNames(&recorded); !s.ok()) return s;
  for (const auto& name : recorded)
    if (!known.count(name))
      if (Status s = RecordDestroyedLocked(name, ", recorded at the next start"); !s.ok()) return s;
  return Status::OK();
}

Status DeployHistory::HeadAppNames(std::vector<std::string>* names) {
  names->clear();
  if (git_repository_head_unborn(repo_) == 1) return Status::OK();
  Commit head;
  Tree tree, apps;
  git_oid head_id, apps_id;
  if (git_reference_name_to_id(&head_id, repo_, "HEAD") != 0 || git_commit_lookup(head.out(), repo_, &head_id) != 0 ||
      git_commit_tree(tree.out(), head.get()) != 0)
    return GitError("reading HEAD");
  if (!EntryId(tree.get(), "apps", &apps_id)) return Status::OK();  // no app recorded yet
  if (git_tree_lookup(apps.out(), repo_, &apps_id) != 0) return GitError("reading apps/");
  for (size_t i = 0; i < git_tree_entrycount(apps.get()); ++i) {
    std::string file = git_tree_entry_name(git_tree_entry_byindex(apps.get(), i));
    if (file.size() > 5 && file.ends_with(".json")) names->push_back(file.substr(0, file.size() - 5));
  }
  return Status::OK();
}

void DeployHistory::OnLive(const Release& live, const EnvList& env) {
  // The release is already live and recorded in the database; a history error is reported, not
  // propagated (see the class comment).
  if (Status s = RecordLive(live, env); !s.ok())
    std::fprintf(stderr, "bimd: warning: %s %s is live but not in the deployment history: %s\n", live.app.c_str(),
                 ReleaseName(live.version).c_str(), s.message().c_str());
}

void DeployHistory::OnDestroyed(const std::string& app) {
  if (Status s = RecordDestroyed(app); !s.ok())
    std::fprintf(stderr, "bimd: warning: %s was destroyed but the deployment history still lists it: %s\n",
                 app.c_str(), s.message().c_str());
}

Status DeployHistory::RecordLive(const Release& live, const EnvList& env, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!repo_) return Status::FailedPrecondition("deployment history is not open");
  std::string previous;
  ReadHeadFile(AppPath(live.app), &previous);  // "" for the app's first release
  ordered_json record;
  std::string file = RecordFor(live, env, &record);
  bool committed = false;
  return CommitFile(AppPath(live.app), &file, message.empty() ? MessageFor(live, record, previous) : message,
                    &committed);
}

void DeployHistory::OnAutoRollback(const Release& failed, const Release& live, const EnvList& env) {
  // failure_reason is "rolled back after <reason>": the subject says why.
  std::string why = failed.failure_reason;
  if (why.rfind("rolled back ", 0) == 0) why = why.substr(12);
  std::string message = live.app + " " + ReleaseName(live.version) + ": automatic rollback from " +
                        ReleaseName(failed.version) + " " + why + "\n\n" + ReleaseName(failed.version) +
                        " failed its watch after the switch and was " + failed.failure_reason + ".\n";
  if (Status s = RecordLive(live, env, message); !s.ok())
    std::fprintf(stderr, "bimd: warning: %s %s is live again but not in the deployment history: %s\n",
                 live.app.c_str(), ReleaseName(live.version).c_str(), s.message().c_str());
}

void DeployHistory::OnDomainsChanged(const std::string& app, const std::string& summary) {
  if (!options_.store) return;
  App a;
  Release live;
  EnvList env;
  if (!options_.store->GetApp(app, &a).ok() || a.live_version == 0) return;
  if (!options_.store->GetRelease(app, a.live_version, &live).ok()) return;
  options_.store->LoadReleaseEnv(live.id, &env);
  std::lock_guard<std::mutex> lock(mu_);
  if (!repo_) return;
  ordered_json record;
  std::string file = RecordFor(live, env, &record);
  bool committed = false;
  if (Status s = CommitFile(AppPath(app), &file, app + ": " + summary + "\n", &committed); !s.ok())
    std::fprintf(stderr, "bimd: warning: history: %s\n", s.message().c_str());
}

Status DeployHistory::RecordDestroyed(const std::string& app) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!repo_) return Status::FailedPrecondition("deployment history is not open");
  return RecordDestroyedLocked(app, "");
}

Status DeployHistory::RecordDestroyedLocked(const std::string& app, const std::string& note) {
  std::string previous;
  if (!ReadHeadFile(AppPath(app), &previous).ok()) return Status::OK();  // never went live: nothing recorded
  json old = json::parse(previous, nullptr, false);
  std::string was = old.is_discarded() ? "" : old.value("release", "");
  std::string message = app + ": destroyed" + (was.empty() ? "" : " (was " + was + ")") + note + "\n";
  bool committed = false;
  return CommitFile(AppPath(app), nullptr, message, &committed);
}

std::string DeployHistory::RecordFor(const Release& live, const EnvList& env, ordered_json* r) {
  std::vector<std::string> keys;
  for (const auto& var : env) keys.push_back(var.key);  // names only: values never enter the repository
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  ordered_json& j = *r;
  j["app"] = live.app;
  j["release"] = ReleaseName(live.version);
  j["version"] = live.version;
  j["kind"] = live.kind;
  if (live.kind == "rollback") j["rollback_to"] = RollbackTarget(live);
  j["image"] = live.image_tag;
  j["image_id"] = live.image_id;
  j["git_commit"] = live.git_commit;
  j["git_dirty"] = live.git_dirty;
  j["source_digest"] = live.source_digest;
  j["env_keys"] = keys;
  j["env_digest"] = live.env_digest.empty() && options_.store ? options_.store->DigestEnv(env) : live.env_digest;
  App app;
  if (options_.store && options_.store->GetApp(live.app, &app).ok()) {
    j["port"] = app.port;
    j["health"] = {{"path", app.health_path}, {"timeout_ms", app.health_timeout_ms}};
  }
  std::vector<std::string> domains;
  if (options_.store && options_.store->ListDomains(live.app, &domains).ok() && !domains.empty()) j["domains"] = domains;
  j["host"] = AppHost(live.app, options_.domain);
  j["url"] = options_.url_for ? options_.url_for(live.app) : "";
  j["live_since_ms"] = live.finished_at_ms;
  return j.dump(2) + "\n";
}

// The release a rollback went back to: the newest earlier release that ran the same image with the
// same env (a rollback copies both), else the release that built the image.
std::string DeployHistory::RollbackTarget(const Release& live) {
  std::vector<Release> releases;
  if (options_.store && options_.store->ListReleases(live.app, 0, &releases).ok()) {
    for (const auto& r : releases) {  // newest first
      if (r.version >= live.version) continue;
      bool ran = r.status == release_status::kLive || r.status == release_status::kRetired;
      if (ran && r.image_tag == live.image_tag && r.env_digest == live.env_digest) return ReleaseName(r.version);
    }
  }
  size_t colon = live.image_tag.rfind(':');
  return colon == std::string::npos ? live.image_tag : live.image_tag.substr(colon + 1);
}

std::string DeployHistory::MessageFor(const Release& live, const ordered_json& record, const std::string& previous) {
  const std::string digest = record["env_digest"].get<std::string>();
  std::string subject = live.app + " " + ReleaseName(live.version) + ": ";
  if (live.kind == "deploy") {
    subject += "deploy of " + (live.git_commit.empty() ? std::string("a folder outside git") : ReleaseSource(live)) +
               " (env digest " + Short(digest, 8) + ")";
  } else if (live.kind == "rollback") {
    subject += "rollback to " + record["rollback_to"].get<std::string>();
  } else if (live.kind == "env") {
    // Which key names came and went, from the previous record (values are unknown here by design).
    std::set<std::string> now, before;
    for (const auto& k : record["env_keys"]) now.insert(k.get<std::string>());
    json old = json::parse(previous, nullptr, false);
    std::string old_digest;
    if (old.is_object()) {
      for (const auto& k : old.value("env_keys", json::array())) before.insert(k.get<std::string>());
      old_digest = old.value("env_digest", "");
    }
    std::vector<std::string> added, removed;
    for (const auto& k : now)
      if (!before.count(k)) added.push_back(k);
    for (const auto& k : before)
      if (!now.count(k)) removed.push_back(k);
    subject += "env change (";
    if (!added.empty()) subject += "added " + Join(added) + "; ";
    if (!removed.empty()) subject += "removed " + Join(removed) + "; ";
    subject += "env digest " + (old_digest.empty() ? "" : Short(old_digest, 8) + " -> ") + Short(digest, 8) + ")";
  } else {
    subject += live.kind + " (env digest " + Short(digest, 8) + ")";
  }
  std::vector<std::string> keys;
  for (const auto& k : record["env_keys"]) keys.push_back(k.get<std::string>());
  return subject + "\n\n" +
         "Image: " + live.image_tag + (live.image_id.empty() ? "" : " (" + live.image_id + ")") + "\n" +
         "Source: " + (live.git_commit.empty() ? "not a git checkout" : live.git_commit) +
         (live.git_dirty ? " with uncommitted changes" : "") + "\n" +
         (live.source_digest.empty() ? "" : "Content digest: " + live.source_digest + "\n") +
         "Env keys: " + (keys.empty() ? "none" : Join(keys)) + "\n" +
         "Env digest: " + digest + "\n";
}

Status DeployHistory::ReadHeadFile(const std::string& path, std::string* content) {
  content->clear();
  if (git_repository_head_unborn(repo_) == 1) return Status::NotFound(path + " is not in the history");
  Commit head;
  Tree tree;
  git_oid head_id, blob_id;
  if (git_reference_name_to_id(&head_id, repo_, "HEAD") != 0 || git_commit_lookup(head.out(), repo_, &head_id) != 0 ||
      git_commit_tree(tree.out(), head.get()) != 0)
    return GitError("reading HEAD");
  if (!EntryId(tree.get(), path, &blob_id)) return Status::NotFound(path + " is not in the history");
  return ReadBlob(repo_, blob_id, content);
}

Status DeployHistory::CommitFile(const std::string& path, const std::string* content, const std::string& message,
                                 bool* committed) {
  return CommitFiles({{path, content}}, message, committed);
}

Status DeployHistory::CommitFiles(const std::vector<std::pair<std::string, const std::string*>>& files,
                                  const std::string& message, bool* committed) {
  *committed = false;
  // The index is re-read from disk so a hand-run `git` in the directory cannot leave us a stale copy.
  Index index;
  if (git_repository_index(index.out(), repo_) != 0 || git_index_read(index.get(), 1) != 0)
    return GitError("reading the index of " + dir_);
  for (const auto& [path, content] : files) {
    const std::string full = dir_ + "/" + path;
    if (content) {
      // The blob comes from memory; the work-tree copy is for people browsing the directory and is not
      // synced (the repository is the record), which keeps a commit of 10,000 files to seconds.
      git_index_entry entry{};
      entry.mode = GIT_FILEMODE_BLOB;
      entry.path = path.c_str();
      if (git_index_add_from_buffer(index.get(), &entry, content->data(), content->size()) != 0)
        return GitError("adding " + path);
      std::ofstream(full, std::ios::binary | std::ios::trunc) << *content;
      chmod(full.c_str(), 0600);
    } else {
      unlink(full.c_str());
      if (git_index_remove_bypath(index.get(), path.c_str()) != 0) return GitError("removing " + path);
    }
  }
  git_oid tree_id, commit_id, parent_id;
  if (git_index_write_tree(&tree_id, index.get()) != 0 || git_index_write(index.get()) != 0)
    return GitError("writing the index of " + dir_);

  Commit parent;
  bool has_parent = git_repository_head_unborn(repo_) != 1;
  if (has_parent) {
    if (git_reference_name_to_id(&parent_id, repo_, "HEAD") != 0 || git_commit_lookup(parent.out(), repo_, &parent_id) != 0)
      return GitError("reading HEAD");
    if (git_oid_equal(&tree_id, git_commit_tree_id(parent.get()))) return Status::OK();  // nothing changed
  }
  Tree tree;
  Signature author;
  if (git_tree_lookup(tree.out(), repo_, &tree_id) != 0) return GitError("reading the new tree");
  if (git_signature_now(author.out(), "bimd", "bimd@localhost") != 0) return GitError("making the commit author");
  const git_commit* parents[] = {parent.get()};
  if (git_commit_create(&commit_id, repo_, "HEAD", author.get(), author.get(), "UTF-8", message.c_str(), tree.get(),
                        has_parent ? 1 : 0, parents) != 0)
    return GitError("committing " + (files.size() == 1 ? files[0].first : std::to_string(files.size()) + " files"));
  *committed = true;
  return Status::OK();
}

Status DeployHistory::Log(const std::string& app, int limit, json* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!repo_) return Status::FailedPrecondition("deployment history is not open");
  return LogFrom(repo_, app, limit, out);
}

Status DeployHistory::ReadLog(const std::string& dir, const std::string& app, int limit, json* out) {
  LibGit2 lib;
  Repository repo;
  if (git_repository_open_ext(repo.out(), dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return Status::FailedPrecondition("no deployment history in " + dir + " (bimd creates it when it starts)");
  return LogFrom(repo.get(), app, limit, out);
}

}  // namespace bim
