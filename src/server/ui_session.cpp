#include "server/ui_session.h"

#include "base/random.h"
#include "server/auth.h"

namespace bim {

std::string UiSessions::Create(const std::string& token, long long now_ms) {
  std::string id = RandomHex(32);
  std::lock_guard<std::mutex> lock(mu_);
  if (by_hash_.size() >= max_sessions_) {
    for (auto it = by_hash_.begin(); it != by_hash_.end();)
      it = now_ms - it->second.created_ms >= ttl_.count() ? by_hash_.erase(it) : std::next(it);
  }
  while (!by_hash_.empty() && by_hash_.size() >= max_sessions_) {
    auto oldest = by_hash_.begin();
    for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it)
      if (it->second.created_ms < oldest->second.created_ms) oldest = it;
    by_hash_.erase(oldest);
  }
  if (max_sessions_ > 0) by_hash_[HashToken(id)] = Entry{token, now_ms};
  return id;
}

bool UiSessions::Lookup(const std::string& id, long long now_ms, std::string* token) {
  if (id.empty()) return false;
  std::string key = HashToken(id);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_hash_.find(key);
  if (it == by_hash_.end()) return false;
  if (now_ms - it->second.created_ms >= ttl_.count()) {
    by_hash_.erase(it);
    return false;
  }
  *token = it->second.token;
  return true;
}

void UiSessions::Remove(const std::string& id) {
  std::string key = HashToken(id);
  std::lock_guard<std::mutex> lock(mu_);
  by_hash_.erase(key);
}

size_t UiSessions::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_hash_.size();
}

}  // namespace bim
