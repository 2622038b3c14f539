// UiSessions: the dashboard's logins, kept in bimd's memory only (a restart logs everyone out).
//
// Logging in with a token creates a session: a random id (32 bytes, hex) that the browser keeps in an
// HttpOnly, SameSite=Strict cookie, so the token itself never goes back to the browser, into a URL or
// into script-readable storage. The session holds the token, which every page checks again with the
// Authenticator, so revoking or rotating a token ends its sessions at the next click.
//
// Bounded: at most `max_sessions` live sessions (the oldest goes when a new one would exceed it) and
// each expires `ttl` after it was made. Ids are kept hashed, so a lookup's timing says nothing about
// the ids that exist.
//
// Thread-safety: every method may be called from any thread at once (one mutex).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace bim {

class UiSessions {
 public:
  UiSessions(size_t max_sessions, std::chrono::milliseconds ttl) : max_sessions_(max_sessions), ttl_(ttl) {}

  // A new session for `token` (which the caller has just checked), made at `now_ms` (wall clock).
  // Returns its id, for the cookie. Drops expired sessions first, then the oldest one if still full.
  std::string Create(const std::string& token, long long now_ms);
  // The token of session `id` if it exists and has not expired at `now_ms`; false otherwise (an
  // expired session is removed).
  bool Lookup(const std::string& id, long long now_ms, std::string* token);
  // Ends session `id` (logout). Nothing happens if it does not exist.
  void Remove(const std::string& id);
  size_t size() const;

 private:
  struct Entry {
    std::string token;
    long long created_ms = 0;
  };
  const size_t max_sessions_;
  const std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_hash_;  // SHA-256 of the id -> session
};

}  // namespace bim
