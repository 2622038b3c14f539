// DockerClient's streaming calls: container logs and the event stream. Kept apart from the
// request/response calls in docker_client.cpp because each carries its own stream parser.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "docker/docker_client.h"
#include "docker/engine_http.h"

namespace bim {
namespace {

using json = nlohmann::json;

// Splits a log answer into lines. Containers without a TTY (bim creates none) send a multiplexed
// stream: frames of an 8-byte header [stream, 0, 0, 0, big-endian uint32 size] and a payload. A TTY
// container sends raw bytes; the first header decides which one this is. stdout and stderr keep
// separate partial lines so interleaved frames do not mix.
class LogDemuxer {
 public:
  explicit LogDemuxer(const LineSink& sink) : sink_(sink) {}

  void Feed(std::string_view chunk) {
    buffer_.append(chunk);
    if (mode_ == Mode::kUnknown) {
      if (buffer_.empty()) return;
      auto b = [this](size_t i) { return static_cast<unsigned char>(buffer_[i]); };
      if (b(0) > 2) {
        mode_ = Mode::kRaw;
      } else if (buffer_.size() >= 4) {
        mode_ = b(1) == 0 && b(2) == 0 && b(3) == 0 ? Mode::kMultiplexed : Mode::kRaw;
      } else {
        return;
      }
    }
    if (mode_ == Mode::kRaw) {
      AddText(0, buffer_);
      buffer_.clear();
      return;
    }
    size_t pos = 0;
    while (buffer_.size() - pos >= 8) {
      const auto* h = reinterpret_cast<const unsigned char*>(buffer_.data() + pos);
      size_t size = (size_t{h[4]} << 24) | (size_t{h[5]} << 16) | (size_t{h[6]} << 8) | size_t{h[7]};
      if (buffer_.size() - pos - 8 < size) break;
      AddText(h[0] == 2 ? 1 : 0, std::string_view(buffer_).substr(pos + 8, size));
      pos += 8 + size;
    }
    buffer_.erase(0, pos);
  }

  void Finish() {
    if (mode_ != Mode::kMultiplexed && !buffer_.empty()) AddText(0, buffer_);
    for (std::string& partial : partial_) {
      if (!partial.empty() && sink_) sink_(partial);
      partial.clear();
    }
  }

 private:
  enum class Mode { kUnknown, kMultiplexed, kRaw };

  void AddText(int stream, std::string_view text) {
    std::string& partial = partial_[stream];
    partial.append(text);
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line = std::string_view(partial).substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (sink_) sink_(line);
    }
    partial.erase(0, start);
  }

  const LineSink& sink_;
  Mode mode_ = Mode::kUnknown;
  std::string buffer_;
  std::string partial_[2];  // stdout, stderr
};

}  // namespace

Status DockerClient::ContainerLogs(const std::string& id, int tail, bool follow, const LineSink& on_line,
                                   const CancelCheck& cancelled) const {
  LogDemuxer demuxer(on_line);
  engine::Request request;
  request.target = fmt::format("/containers/{}/logs?stdout=1&stderr=1&tail={}&follow={}", engine::PathEscape(id),
                               tail < 0 ? std::string("all") : std::to_string(tail), follow ? 1 : 0);
  request.timeout_seconds = follow ? 0 : 300;
  request.on_data = [&demuxer](std::string_view chunk) { demuxer.Feed(chunk); };
  request.cancelled = cancelled;
  engine::Response response;
  Status s = engine::Perform(socket_path_, request, &response);
  // Cancelling a followed stream is how the caller ends it: not an error.
  if (!s.ok() && s.code() != Code::kCancelled) return s;
  if (s.ok() && response.status >= 400) return engine::ErrorStatus(response, "docker logs " + id);
  demuxer.Finish();
  return Status::OK();
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
