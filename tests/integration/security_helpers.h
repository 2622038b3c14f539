// Helpers shared by the security integration tests: raw API requests with libcurl (so the tests send
// exactly the bytes an attacker would, bypassing the CLI's own checks) and a snapshot of everything a
// refused request must leave unchanged.
#pragma once

#include <curl/curl.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/deploy_plan.h"
#include "docker/docker_client.h"
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

// The names in a directory; none when it does not exist (bimd makes its spools on first use).
inline std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

// What a refused request must not change: the apps (as `bim apps --json` reports them), every nginx
// site and route file with its contents, the upload spool, the tokens (`bim token list --json`: ids, names,
// scopes, never values), the audit log (`bim audit --json`) and this bimd's Docker containers and
// images (id, name, state, tags).
struct Snapshot {
  std::string apps;
  std::map<std::string, std::string> routes;  // "sites/<app>", "routes/<key>" -> contents
  std::set<std::string> uploads;
  std::string tokens;
  std::string audit;
  std::set<std::string> docker;  // "container <name> <id> <state>", "image <id> <tags...>"
  bool operator==(const Snapshot&) const = default;
};

// Takes a snapshot; fails (and the test must stop: ASSERT_TRUE(Take(...))) when any part of it
// cannot be read, so an unreadable state never compares equal to another unreadable state.
inline ::testing::AssertionResult Take(const Bimd& server, Snapshot* s) {
  *s = Snapshot();
  auto listing = [&](const std::vector<std::string>& args, const char* field, std::string* out) {
    CommandResult r = server.Bim(args);
    nlohmann::json j = r.Json();
    if (r.exit_code != 0 || !j.is_object() || !j.contains(field)) return false;
    *out = j[field].dump();
    return true;
  };
  if (!listing({"apps", "--json"}, "apps", &s->apps)) return ::testing::AssertionFailure() << "cannot list apps";
  if (!listing({"token", "list", "--json"}, "tokens", &s->tokens))
    return ::testing::AssertionFailure() << "cannot list tokens";
  // When a token was last used is a stamp, not a change (the snapshot's own requests move it).
  nlohmann::json tokens = nlohmann::json::parse(s->tokens);
  for (auto& t : tokens) t.erase("last_used_at_ms");
  s->tokens = tokens.dump();
  if (!listing({"audit", "--limit", "1000", "--json"}, "entries", &s->audit))
    return ::testing::AssertionFailure() << "cannot list the audit log";
  std::error_code ec;
  // Sites (sites/<app>: its host names and routes) and routes (routes/<key>: where each route points).
  for (const char* dir : {"sites", "routes"}) {
    for (const auto& e : std::filesystem::directory_iterator(server.data_dir() + "/nginx/" + dir, ec)) {
      std::ifstream in(e.path(), std::ios::binary);
      if (!in) return ::testing::AssertionFailure() << "cannot read " << e.path();
      s->routes[std::string(dir) + "/" + e.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
    }
    if (ec) return ::testing::AssertionFailure() << "cannot list nginx/" << dir << ": " << ec.message();
  }
  // bimd makes the spool at the first upload: no directory is no upload.
  if (std::filesystem::exists(server.data_dir() + "/uploads")) {
    std::filesystem::directory_iterator uploads(server.data_dir() + "/uploads", ec);
    if (ec) return ::testing::AssertionFailure() << "cannot list the upload spool: " << ec.message();
    for (const auto& e : uploads) s->uploads.insert(e.path().filename().string());
  }
  DockerClient docker;
  std::vector<ContainerInfo> containers;
  Status st = docker.ListContainers({{labels::kInstance, server.instance()}}, true, &containers);
  if (!st.ok()) return ::testing::AssertionFailure() << "cannot list containers: " << st.message();
  for (const auto& c : containers) s->docker.insert("container " + c.name + " " + c.id + " " + c.state);
  std::vector<ImageInfo> images;
  st = docker.ListImages({{labels::kInstance, server.instance()}}, &images);
  if (!st.ok()) return ::testing::AssertionFailure() << "cannot list images: " << st.message();
  for (const auto& img : images) {
    std::string line = "image " + img.id;
    for (const auto& tag : img.tags) line += " " + tag;
    s->docker.insert(line);
  }
  return ::testing::AssertionSuccess();
}

inline std::string Describe(const Snapshot& s) {
  std::string out = "apps=" + s.apps + "\nroutes=[";
  for (const auto& [name, contents] : s.routes) out += name + " (" + std::to_string(contents.size()) + " bytes) ";
  out += "]\nuploads=[";
  for (const auto& u : s.uploads) out += u + " ";
  out += "]\ntokens=" + s.tokens + "\naudit=" + s.audit + "\ndocker=[";
  for (const auto& d : s.docker) out += d + "; ";
  return out + "]";
}

}  // namespace bim::testing
