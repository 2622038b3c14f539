// AppLocks: one lock per app, granted in arrival order (a ticket lock), so concurrent deploys,
// rollbacks and env changes of one app run one at a time in the order they were asked for, while
// different apps proceed in parallel.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace bim {

class AppLocks {
 public:
  // RAII holder; releases the app's lock when destroyed. Empty (held() false) if TryAcquire failed.
  class Holder {
   public:
    Holder() = default;
    Holder(Holder&& other) noexcept : locks_(other.locks_), app_(std::move(other.app_)) { other.locks_ = nullptr; }
    Holder& operator=(Holder&&) = delete;
    ~Holder() {
      if (locks_) locks_->Release(app_);
    }
    bool held() const { return locks_ != nullptr; }

   private:
    friend class AppLocks;
    Holder(AppLocks* locks, std::string app) : locks_(locks), app_(std::move(app)) {}
    AppLocks* locks_ = nullptr;
    std::string app_;
  };

  // Blocks until every earlier caller for `app` has released, then holds the lock. `holder_label`
  // (e.g. "deploy v4") is what Busy() reports to others while held.
  Holder Acquire(const std::string& app, const std::string& holder_label);
  // Holds the lock only if nobody holds or waits for it; otherwise returns an empty Holder and sets
  // *busy_with to the current holder's label.
  Holder TryAcquire(const std::string& app, const std::string& holder_label, std::string* busy_with);
  // Replaces the label the current holder shows (e.g. once the release number is known).
  void Relabel(const std::string& app, const std::string& holder_label);
  // True if someone holds or waits for `app`'s lock; *holder_label = the holder's label.
  bool Busy(const std::string& app, std::string* holder_label);

 private:
  struct Slot {
    uint64_t next_ticket = 0;
    uint64_t serving = 0;
    std::string label;
  };
  void Release(const std::string& app);

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Slot> slots_;
};

}  // namespace bim
