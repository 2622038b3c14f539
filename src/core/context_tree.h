// ContextTree: the rules a build context must keep, checked on its entries' names, types and link
// targets (pure: the tar reading is in server/context_check.cpp, the packing in cli/context_pack.cpp).
//
// The property it guards: no accepted entry can resolve outside the context, however Docker
// extracts it. So an entry is refused when
//   - its name is empty, absolute, has a ".." component, a control character, or repeats an entry;
//   - it lies beneath a symlink (writing "link/x" would follow "link" wherever it points) or beneath
//     a file;
//   - it is a symlink whose target, resolved through the other symlinks of the context (chains,
//     "link/.." climbing out of where "link" really points), leaves the context, is absolute, or
//     loops;
//   - it is a hardlink whose target is not an earlier regular file of the context;
//   - it is a secret: a file or directory named .env* at any depth (IsSecretFileName). bim never
//     uploads them; their values reach the container as env, never the image.
//
// Use: Add() every entry in archive order, then Finish() (symlinks may point at entries that come
// later). The first refusal is returned and sticks. Not thread-safe (one tree per context).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

// True for ".env", ".env.local", ".envrc", ...: names bim keeps out of every build context.
bool IsSecretFileName(std::string_view basename);

class ContextTree {
 public:
  enum class Type { kFile, kDirectory, kSymlink, kHardlink };

  // `name` as written in the archive ("./a/b", "a/b/" are fine); `target` is the link target for
  // symlinks and hardlinks. InvalidArgument naming the entry and the rule it breaks.
  Status Add(std::string_view name, Type type, std::string_view target = "");

  // Checks what needs every entry: symlink resolution and entries beneath symlinks or files.
  Status Finish();

  // The normalised name ("a/b"), or "" if `name` cannot be an entry. Exposed for messages and tests.
  static std::string Normalize(std::string_view name);

 private:
  struct Entry {
    Type type;
    std::string target;
  };
  // Resolves `parts` from the context root, following symlinks of this tree. False if it leaves the
  // context (or loops); `why` says which.
  bool Resolves(std::vector<std::string> parts, std::string* why) const;

  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  Status failed_;
};

}  // namespace bim
