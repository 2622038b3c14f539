#include "docker/engine_json.h"

namespace bim::engine_json {

ProgressStream::ProgressStream(const LineSink& sink)
    : sink_(sink),
      on_object_([this](std::string_view line) { HandleObject(line); }),
      on_text_([this](std::string_view line) { Emit(line); }),
      objects_(on_object_, kMaxObjectBytes),
      text_(on_text_, kMaxOutputLineBytes) {}

void ProgressStream::Finish() {
  objects_.Finish();
  text_.Finish();
}

void ProgressStream::HandleObject(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return;
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {  // not Docker's framing; show it rather than lose it
    Emit(line.substr(0, kMaxOutputLineBytes));
    return;
  }
  if (auto it = j.find("stream"); it != j.end() && it->is_string()) text_.Feed(it->get<std::string>());
  if (auto it = j.find("status"); it != j.end() && it->is_string()) {  // pulls and pushes
    std::string id = Str(j, "id");
    Emit(id.empty() ? it->get<std::string>() : id + ": " + it->get<std::string>());
  }
  if (auto it = j.find("aux"); it != j.end() && it->is_object()) aux_.update(*it);
  if (auto it = j.find("error"); it != j.end() && error_.empty()) {
    error_ = it->is_string() ? it->get<std::string>() : Dump(*it);
    if (error_.empty()) error_ = Str(Obj(j, "errorDetail"), "message");
    if (error_.empty()) error_ = "unknown error";
    while (!error_.empty() && (error_.back() == '\n' || error_.back() == '\r')) error_.pop_back();
    if (error_.size() > kMaxOutputLineBytes) error_.resize(kMaxOutputLineBytes);
  }
}

void ProgressStream::Emit(std::string_view line) {
  while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty() && sink_) sink_(line);
}

Status PerformProgress(const std::string& socket_path, engine::Request request, ProgressStream* parser,
                       const std::string& what) {
  request.on_data = [parser](std::string_view chunk) { parser->Feed(chunk); };
  engine::Response response;
  Status s = engine::Perform(socket_path, request, &response);
  if (!s.ok()) return s.code() == Code::kCancelled ? Status::Cancelled(what + ": cancelled") : s;
  if (response.status >= 400) return engine::ErrorStatus(response, what);
  parser->Finish();
  if (!parser->error().empty()) return Status::FailedPrecondition(fmt::format("{}: {}", what, parser->error()));
  return Status::OK();
}

}  // namespace bim::engine_json
