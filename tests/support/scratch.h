// Test helpers for throwaway things: a temp folder removed on scope exit, and counting Docker objects
// by label (to prove a test left nothing behind).
#pragma once

#include <cstddef>
#include <string>

namespace bim::testing {

// A fresh folder under the temp dir, removed with everything in it when this goes out of scope.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `text` to path()/rel (creating folders), replacing or appending.
  void Write(const std::string& rel, const std::string& text, bool append = false) const;

 private:
  std::string path_;
};

// How many Docker objects of one kind carry label key=value: `what` is the Engine API list path,
// "containers/json?all=1", "networks" or "images/json?all=1".
size_t CountLabelled(const std::string& what, const std::string& key, const std::string& value);

}  // namespace bim::testing
