// Test helper: make and commit to a git repository with libgit2 (no git binary). Header-only, for the
// unit and integration suites alike.
#pragma once

#include <git2.h>

#include <string>
#include <vector>

#include "base/git_ptr.h"

namespace bim::testing {

// In `dir` (made a repository if it is not one): stages every file .gitignore does not ignore and
// commits it on HEAD. Returns the new commit's 40-hex id, or "" on any libgit2 error.
inline std::string CommitAll(const std::string& dir, const std::string& message) {
  LibGit2 lib;
  GitPtr<git_repository, git_repository_free> repo;
  if (git_repository_open(repo.out(), dir.c_str()) != 0 && git_repository_init(repo.out(), dir.c_str(), 0) != 0)
    return "";
  GitPtr<git_index, git_index_free> index;
  if (git_repository_index(index.out(), repo.get()) != 0) return "";
  git_strarray all = {nullptr, 0};
  // add_all stages new and modified files; update_all stages deletions.
  if (git_index_add_all(index.get(), &all, GIT_INDEX_ADD_DEFAULT, nullptr, nullptr) != 0 ||
      git_index_update_all(index.get(), &all, nullptr, nullptr) != 0 || git_index_write(index.get()) != 0)
    return "";
  git_oid tree_id, commit_id, parent_id;
  if (git_index_write_tree(&tree_id, index.get()) != 0) return "";
  GitPtr<git_tree, git_tree_free> tree;
  GitPtr<git_signature, git_signature_free> sig;
  if (git_tree_lookup(tree.out(), repo.get(), &tree_id) != 0 ||
      git_signature_new(sig.out(), "bim test", "test@bim.invalid", 1700000000, 0) != 0)
    return "";
  GitPtr<git_commit, git_commit_free> parent;
  std::vector<const git_commit*> parents;
  if (git_reference_name_to_id(&parent_id, repo.get(), "HEAD") == 0 &&
      git_commit_lookup(parent.out(), repo.get(), &parent_id) == 0)
    parents.push_back(parent.get());
  if (git_commit_create(&commit_id, repo.get(), "HEAD", sig.get(), sig.get(), nullptr, message.c_str(), tree.get(),
                        parents.size(), parents.data()) != 0)
    return "";
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &commit_id);
  return hex;
}

// Stages `path` (relative to the work tree) without committing it.
inline bool StageFile(const std::string& dir, const std::string& path) {
  LibGit2 lib;
  GitPtr<git_repository, git_repository_free> repo;
  GitPtr<git_index, git_index_free> index;
  return git_repository_open(repo.out(), dir.c_str()) == 0 && git_repository_index(index.out(), repo.get()) == 0 &&
         git_index_add_bypath(index.get(), path.c_str()) == 0 && git_index_write(index.get()) == 0;
}

}  // namespace bim::testing
