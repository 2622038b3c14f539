#include "server/app_locks.h"

namespace bim {

AppLocks::Holder AppLocks::Acquire(const std::string& app, const std::string& holder_label) {
  std::unique_lock<std::mutex> lock(mu_);
  Slot& slot = slots_[app];
  uint64_t ticket = slot.next_ticket++;
  cv_.wait(lock, [&] { return slots_[app].serving == ticket; });
  slots_[app].label = holder_label;
  return Holder(this, app);
}

AppLocks::Holder AppLocks::TryAcquire(const std::string& app, const std::string& holder_label,
                                      std::string* busy_with) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[app];
  if (slot.next_ticket != slot.serving) {
    *busy_with = slot.label;
    return Holder();
  }
  slot.next_ticket++;
  slot.label = holder_label;
  return Holder(this, app);
}

void AppLocks::Relabel(const std::string& app, const std::string& holder_label) {
  std::lock_guard<std::mutex> lock(mu_);
  slots_[app].label = holder_label;
}

bool AppLocks::Busy(const std::string& app, std::string* holder_label) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slots_.find(app);
  if (it == slots_.end() || it->second.next_ticket == it->second.serving) return false;
  *holder_label = it->second.label;
  return true;
}

void AppLocks::Release(const std::string& app) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[app];
    slot.serving++;
    slot.label.clear();
    if (slot.serving == slot.next_ticket) slots_.erase(app);  // idle: keep the map small
  }
  cv_.notify_all();
}

}  // namespace bim
