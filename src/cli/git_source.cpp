#include "cli/git_source.h"

#include <filesystem>

#include "base/git_ptr.h"

namespace bim {

namespace fs = std::filesystem;

namespace {
using Repository = GitPtr<git_repository, git_repository_free>;
using Reference = GitPtr<git_reference, git_reference_free>;
using StatusList = GitPtr<git_status_list, git_status_list_free>;
}  // namespace

std::string ShortSource(const std::string& commit, bool dirty) {
  if (commit.empty()) return "";
  return commit.substr(0, 7) + (dirty ? "-dirty" : "");
}

Status ReadGitSource(const std::string& dir, GitSource* out) {
  *out = GitSource();
  LibGit2 lib;
  std::error_code ec;
  const std::string abs = fs::absolute(dir, ec).lexically_normal().string();
  Repository repo;
  int rc = git_repository_open_ext(repo.out(), abs.c_str(), 0, nullptr);
  if (rc == GIT_ENOTFOUND) return Status::OK();
  if (rc != 0) return Status::Internal("cannot read the git repository around " + abs + ": " + GitLastError());
  if (git_repository_is_bare(repo.get())) return Status::OK();

  Reference head;
  rc = git_repository_head(head.out(), repo.get());
  if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND) return Status::OK();  // no commit yet
  if (rc != 0) return Status::Internal("cannot read HEAD of the git repository around " + abs + ": " + GitLastError());
  const git_oid* oid = git_reference_target(head.get());
  Reference resolved;
  if (oid == nullptr) {  // a symbolic HEAD that did not resolve: resolve it explicitly
    if (git_reference_resolve(resolved.out(), head.get()) != 0 || git_reference_target(resolved.get()) == nullptr)
      return Status::Internal("cannot resolve HEAD of the git repository around " + abs + ": " + GitLastError());
    oid = git_reference_target(resolved.get());
  }
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, oid);
  out->commit = hex;

  // Only the app folder counts: its path relative to the work tree is the pathspec.
  const char* workdir = git_repository_workdir(repo.get());
  std::string rel = workdir ? fs::path(abs).lexically_relative(fs::path(workdir).lexically_normal()).string() : "";
  if (rel == ".") rel.clear();
  git_status_options opts = GIT_STATUS_OPTIONS_INIT;
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
               GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  char* paths[] = {rel.data()};
  if (!rel.empty()) opts.pathspec = {paths, 1};  // a directory matches everything under it
  StatusList list;
  if (git_status_list_new(list.out(), repo.get(), &opts) != 0)
    return Status::Internal("cannot compare " + abs + " with its git commit: " + GitLastError());
  out->dirty = git_status_list_entrycount(list.get()) > 0;
  return Status::OK();
}

}  // namespace bim
