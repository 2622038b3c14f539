// JSON helpers shared by DockerClient's files: field readers that tolerate Docker's nulls and missing
// keys, label filters, and one small request/answer call. Private to src/docker.
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "docker/docker_client.h"
#include "docker/engine_http.h"

namespace bim::engine_json {

using json = nlohmann::json;

// Field readers that tolerate missing keys and nulls (Docker sends "Labels": null for no labels).
inline std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
inline long long Num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<long long>() : 0;
}
inline bool Bool(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
inline const json& Obj(const json& j, const char* key) {
  static const json kEmpty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}
inline Labels LabelsOf(const json& j) {
  Labels labels;
  if (!j.is_object()) return labels;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) labels[k] = v.get<std::string>();
  }
  return labels;
}
inline std::string StripSlash(std::string name) {
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  return name;
}
inline int ParsePort(const std::string& s) {
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || port > 65535) return 0;
    port = port * 10 + (c - '0');
  }
  return port <= 65535 ? port : 0;
}

// Serializes without throwing: invalid UTF-8 (say, in a label) becomes U+FFFD instead of an exception.
inline std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// {"label":["k=v","k2"]}, URL-encoded, for the `filters` query parameter.
inline std::string LabelFilter(const Labels& labels) {
  json list = json::array();
  for (const auto& [k, v] : labels) list.push_back(v.empty() ? k : k + "=" + v);
  return engine::QueryEscape(Dump(json{{"label", list}}));
}

// Sends a request whose answer is small and parses it as JSON (when `parsed` is set). `what` prefixes
// error messages, e.g. "docker inspect container web-1".
inline Status Call(const std::string& socket, const engine::Request& request, const std::string& what,
            json* parsed = nullptr, long* status = nullptr) {
  engine::Response response;
  Status s = engine::Perform(socket, request, &response);
  if (!s.ok()) return s;
  if (status) *status = response.status;
  if (response.status >= 400) return engine::ErrorStatus(response, what);
  if (parsed) {
    *parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (parsed->is_discarded()) {
      return Status::Internal(fmt::format("{}: dockerd answered with invalid JSON", what));
    }
  }
  return Status::OK();
}

}  // namespace bim::engine_json
