// JSON helpers shared by DockerClient's and SwarmClient's files: field readers that tolerate Docker's
// nulls and missing keys, label filters, one small request/answer call, and the parser of progress
// streams (build, push). Private to src/docker.
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "docker/docker_client.h"
#include "docker/engine_http.h"
#include "docker/line_splitter.h"

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
inline const json& Arr(const json& j, const char* key) {
  static const json kEmpty = json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}
inline Labels LabelsOf(const json& j) {
  Labels labels;
  if (!j.is_object()) return labels;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) labels[k] = v.get<std::string>();
  }
  return labels;
}
inline json LabelsJson(const Labels& labels) {
  json j = json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j;
}
// Docker's HealthConfig (a container's "Healthcheck", a Swarm task's ContainerSpec "Healthcheck").
inline json HealthcheckJson(const ContainerHealthcheck& h) {
  constexpr int64_t kNanosPerMilli = 1'000'000;
  return {{"Test", h.test},
          {"Interval", h.interval_ms * kNanosPerMilli},
          {"Timeout", h.timeout_ms * kNanosPerMilli},
          {"StartPeriod", h.start_period_ms * kNanosPerMilli},
          {"Retries", h.retries}};
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

// {"label":[...]} plus `extra` filters (e.g. {"service":["id"]}), URL-encoded.
inline std::string Filters(const Labels& labels, const json& extra = json::object()) {
  json filters = extra.is_object() ? extra : json::object();
  json list = json::array();
  for (const auto& [k, v] : labels) list.push_back(v.empty() ? k : k + "=" + v);
  if (!list.empty()) filters["label"] = list;
  return engine::QueryEscape(Dump(filters));
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

// Parses the progress answer of a build or push: JSON objects, one per line, split arbitrarily across
// chunks. Build output text ("stream") is re-split into lines, since one object may carry several
// lines or part of one; progress ("status", with its layer id) is one line each; the first "error"
// is kept (a failed build or push still answers 200); "aux" objects (the built image's ID, the pushed
// manifest's Digest) are merged. Both splits are bounded (LineSplitter): a tenant's build cannot make
// bimd hold an endless line. Defined in engine_json.cpp.
class ProgressStream {
 public:
  explicit ProgressStream(const LineSink& sink);
  void Feed(std::string_view chunk) { objects_.Feed(chunk); }
  void Finish();
  const json& aux() const { return aux_; }
  const std::string& error() const { return error_; }

 private:
  // Docker frames each object on its own line and cuts long output into pieces of a few KiB, so an
  // object near this size is not Docker's framing.
  static constexpr size_t kMaxObjectBytes = 1 << 20;
  void HandleObject(std::string_view line);
  void Emit(std::string_view line);

  const LineSink& sink_;
  const LineSink on_object_;
  const LineSink on_text_;
  LineSplitter objects_;  // the JSON stream, one object per line
  LineSplitter text_;     // build output after the last complete line
  json aux_ = json::object();
  std::string error_;
};

// Sends `request` (a build or push) and feeds its progress answer to `parser` until it ends. OK when
// the stream ended without an "error" object; otherwise Cancelled ("<what>: cancelled") when
// `request.cancelled` said so, the Engine's error answer (ErrorStatus), or FailedPrecondition with the
// stream's error (a failed build or push still answers 200). Defined in engine_json.cpp.
Status PerformProgress(const std::string& socket_path, engine::Request request, ProgressStream* parser,
                       const std::string& what);

}  // namespace bim::engine_json
