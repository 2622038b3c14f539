// Helpers shared by the security integration tests: raw API requests with libcurl (so the tests send
// exactly the bytes an attacker would, bypassing the CLI's own checks) and a snapshot of everything a
// refused request must leave unchanged.
#pragma once

#include <curl/curl.h>

#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support/bimd_harness.h"

namespace bim::testing {

struct ApiAnswer {
  long status = 0;
  std::string body;
  std::string error;  // curl's message when status is 0
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string Message() const {
    nlohmann::json j = Json();
    if (j.is_object() && j.contains("error") && j["error"].is_object()) return j["error"].value("message", "");
    return "";
  }
};

inline size_t CollectInto(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// One request to http://127.0.0.1:<port><path>. `path` is sent as is (CURLOPT_PATH_AS_IS), so
// "%2e%2e" and ".." reach the server unchanged. `token` "" sends no Authorization header.
// `multipart` (name, contents) parts are sent as multipart/form-data instead of `body`.
inline ApiAnswer Api(int port, const std::string& method, const std::string& path, const std::string& token,
                     const std::string& body = "", const std::vector<std::string>& headers = {},
                     const std::vector<std::pair<std::string, std::string>>& multipart = {}) {
  ApiAnswer a;
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_slist* list = nullptr;
  if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
  list = curl_slist_append(list, "Expect:");
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectInto);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  curl_mime* mime = nullptr;
  if (!multipart.empty()) {
    mime = curl_mime_init(curl);
    for (const auto& [name, contents] : multipart) {
      curl_mimepart* part = curl_mime_addpart(mime);
      curl_mime_name(part, name.c_str());
      curl_mime_data(part, contents.data(), contents.size());
      if (name == "context") curl_mime_filename(part, "context.tar");
    }
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  } else if (!body.empty() || method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
  if (rc != CURLE_OK) a.error = curl_easy_strerror(rc);
  curl_mime_free(mime);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return a;
}

// Percent-encodes every byte but [A-Za-z0-9], so any name (NUL, newline, UTF-8) fits in a URL path.
inline std::string Escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

inline std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

// What a refused request must not change: the apps (as `bim apps --json` reports them), the nginx
// route files, and the upload spool.
struct Snapshot {
  std::string apps;
  std::set<std::string> routes;
  std::set<std::string> uploads;
  bool operator==(const Snapshot&) const = default;
};

inline Snapshot Take(const Bimd& server) {
  Snapshot s;
  CommandResult r = server.Bim({"apps", "--json"});
  nlohmann::json j = r.Json();
  s.apps = j.is_object() ? j["apps"].dump() : "unreadable: " + r.out + r.err;
  s.routes = ListDir(server.data_dir() + "/nginx/apps");
  s.uploads = ListDir(server.data_dir() + "/uploads");
  return s;
}

inline std::string Describe(const Snapshot& s) {
  std::string out = "apps=" + s.apps + " routes=[";
  for (const auto& r : s.routes) out += r + " ";
  out += "] uploads=[";
  for (const auto& u : s.uploads) out += u + " ";
  return out + "]";
}

}  // namespace bim::testing
