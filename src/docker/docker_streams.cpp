// DockerClient's streaming calls: container logs and the event stream. Kept apart from the
// request/response calls in docker_client.cpp because each carries its own stream parser.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "docker/docker_client.h"
#include "docker/engine_http.h"
#include "docker/line_splitter.h"

namespace bim {
namespace {

using json = nlohmann::json;

// Splits a log answer into lines. Containers without a TTY (bim creates none) send a multiplexed
// stream: frames of an 8-byte header [stream, 0, 0, 0, big-endian uint32 size] and a payload. A TTY
// container sends raw bytes; the first header decides which one this is. stdout and stderr keep
// separate partial lines so interleaved frames do not mix. Frames are passed on as their bytes
// arrive (a header may claim up to 4 GiB) and lines are capped, so memory stays bounded.
class LogDemuxer {
 public:
  explicit LogDemuxer(const LineSink& sink)
      : lines_{LineSplitter(sink, kMaxOutputLineBytes), LineSplitter(sink, kMaxOutputLineBytes)} {}

  void Feed(std::string_view chunk) {
    if (mode_ != Mode::kUnknown) return Consume(chunk);
    // The first bytes decide the mode; they are held (one chunk at most) until there are enough.
    probe_.append(chunk);
    auto b = [this](size_t i) { return static_cast<unsigned char>(probe_[i]); };
    if (probe_.empty()) return;
    if (b(0) > 2) mode_ = Mode::kRaw;
    else if (probe_.size() >= 4) mode_ = b(1) == 0 && b(2) == 0 && b(3) == 0 ? Mode::kMultiplexed : Mode::kRaw;
    else return;
    std::string first = std::move(probe_);
    probe_.clear();
    Consume(first);
  }

  void Finish() {
    if (mode_ == Mode::kUnknown) lines_[0].Feed(probe_);
    for (LineSplitter& l : lines_) l.Finish();
  }

 private:
  enum class Mode { kUnknown, kMultiplexed, kRaw };

  void Consume(std::string_view chunk) {
    if (mode_ == Mode::kRaw) return lines_[0].Feed(chunk);
    while (!chunk.empty()) {
      if (remaining_ > 0) {
        size_t n = std::min<size_t>(remaining_, chunk.size());
        lines_[stream_].Feed(chunk.substr(0, n));
        remaining_ -= n;
        chunk.remove_prefix(n);
        continue;
      }
      size_t need = 8 - header_.size();
      header_.append(chunk.substr(0, need));
      chunk.remove_prefix(std::min(need, chunk.size()));
      if (header_.size() < 8) return;
      const auto* h = reinterpret_cast<const unsigned char*>(header_.data());
      stream_ = h[0] == 2 ? 1 : 0;
      remaining_ = (size_t{h[4]} << 24) | (size_t{h[5]} << 16) | (size_t{h[6]} << 8) | size_t{h[7]};
      header_.clear();
    }
  }

  Mode mode_ = Mode::kUnknown;
  std::string probe_;       // the first bytes, until they tell the mode
  std::string header_;      // a frame header being received (up to 8 bytes)
  size_t remaining_ = 0;    // payload bytes of the current frame still to come
  int stream_ = 0;
  LineSplitter lines_[2];   // stdout, stderr
};

}  // namespace

namespace engine {

Status StreamLogs(const std::string& socket_path, const std::string& target, bool follow, const LineSink& on_line,
                  const CancelCheck& cancelled, const std::string& what) {
  LogDemuxer demuxer(on_line);
  Request request;
  request.target = target;
  request.timeout_seconds = follow ? 0 : 300;
  request.on_data = [&demuxer](std::string_view chunk) { demuxer.Feed(chunk); };
  request.cancelled = cancelled;
  Response response;
  Status s = Perform(socket_path, request, &response);
  // Cancelling a followed stream is how the caller ends it: not an error.
  if (!s.ok() && s.code() != Code::kCancelled) return s;
  if (s.ok() && response.status >= 400) return ErrorStatus(response, what);
  demuxer.Finish();
  return Status::OK();
}

std::string LogQuery(int tail, bool follow) {
  return fmt::format("stdout=1&stderr=1&tail={}&follow={}", tail < 0 ? std::string("all") : std::to_string(tail),
                     follow ? 1 : 0);
}

}  // namespace engine

Status DockerClient::ContainerLogs(const std::string& id, int tail, bool follow, const LineSink& on_line,
                                   const CancelCheck& cancelled) const {
  return engine::StreamLogs(socket_path_,
                            fmt::format("/containers/{}/logs?{}", engine::PathEscape(id), engine::LogQuery(tail, follow)),
                            follow, on_line, cancelled, "docker logs " + id);
}

Status DockerClient::WatchContainerEvents(const Labels& labels, const ContainerEventHandler& on_event,
                                          const CancelCheck& cancelled) const {
  json label_list = json::array();
  for (const auto& [k, v] : labels) label_list.push_back(v.empty() ? k : k + "=" + v);
  json filters{{"type", {"container"}}, {"event", {"die", "start"}}, {"label", label_list}};
  engine::Request request;
  request.target = "/events?filters=" + engine::QueryEscape(filters.dump(-1, ' ', false, json::error_handler_t::replace));
  request.timeout_seconds = 0;
  request.cancelled = cancelled;
  std::string pending;
  request.on_data = [&](std::string_view chunk) {
    pending.append(chunk);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      json event = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!event.is_object() || !event.contains("Actor")) continue;
      const json& attrs = event["Actor"].value("Attributes", json::object());
      Labels event_labels;
      for (const auto& [k, v] : attrs.items())
        if (v.is_string()) event_labels[k] = v.get<std::string>();
      int code = event_labels.count("exitCode") ? std::atoi(event_labels["exitCode"].c_str()) : -1;
      on_event(event.value("Action", ""), event["Actor"].value("ID", ""), event_labels, code);
    }
  };
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  if (s.code() == Code::kCancelled) return Status::OK();
  if (!s.ok()) return s;
  if (response.status >= 400) return engine::ErrorStatus(response, "docker events");
  return Status::Unavailable("docker event stream ended");
}

}  // namespace bim
