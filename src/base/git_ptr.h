// Small RAII helpers for libgit2, shared by the deployment history (bimd) and the source reader (bim).
#pragma once

#include <git2.h>

#include <string>

namespace bim {

// Owns one libgit2 object and frees it with its own free function. Not copyable.
template <class T, void (*Free)(T*)>
class GitPtr {
 public:
  GitPtr() = default;
  ~GitPtr() {
    if (p_) Free(p_);
  }
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  T** out() { return &p_; }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
};

// libgit2 keeps global state (thread-local errors, caches) between init and the last shutdown; hold
// one of these for as long as libgit2 objects live. Init/shutdown are reference counted, so nesting is fine.
struct LibGit2 {
  LibGit2() { git_libgit2_init(); }
  ~LibGit2() { git_libgit2_shutdown(); }
  LibGit2(const LibGit2&) = delete;
  LibGit2& operator=(const LibGit2&) = delete;
};

// libgit2's message for the last error on this thread, or "libgit2 error".
inline std::string GitLastError() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "libgit2 error";
}

}  // namespace bim
