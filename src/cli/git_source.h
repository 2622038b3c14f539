// What a deploy records about where its code came from: the git commit checked out in the folder's
// work tree and whether the folder holds changes that commit does not, read with libgit2 (no git
// binary). A dirty deploy is shown as "1a2b3c4-dirty" with the content digest of what was shipped
// (PackStats::content_digest), so the release never claims a commit that is not what runs.
#pragma once

#include <string>

#include "core/status.h"

namespace bim {

struct GitSource {
  std::string commit;  // 40 lower-case hex; "" outside a repository or before the first commit
  // The app folder differs from `commit`: a tracked file under it is modified, staged, deleted or
  // renamed, or a file under it is untracked and not ignored by .gitignore. Changes elsewhere in the
  // repository (another app of a monorepo) do not count.
  bool dirty = false;
};

// Reads the git state of `dir` (which may be any folder inside a work tree, or outside one). Outside
// a repository *out is {"" , false} and the result is OK; Internal only when a repository exists but
// cannot be read (the message names it).
Status ReadGitSource(const std::string& dir, GitSource* out);

// "1a2b3c4" or "1a2b3c4-dirty" (7 hex digits), or "" without a commit: how releases show their source.
std::string ShortSource(const std::string& commit, bool dirty);

}  // namespace bim
