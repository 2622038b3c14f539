// ApiClient: the CLI's connection to bimd (libcurl). Converts HTTP failures back into Status values
// with bimd's own message, so the CLI can print one line that names the fix.
//
// Thread-safety: one ApiClient per thread (each call uses its own curl handle, but callbacks run on
// the calling thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace bim {

struct ServerConfig {
  std::string url;    // "http://127.0.0.1:7878", no trailing slash
  std::string token;  // bearer token
};

using EventHandler = std::function<void(const nlohmann::json& event)>;
using UploadProgress = std::function<void(int64_t sent, int64_t total)>;
// Receives a downloaded body piece by piece; false stops the transfer.
using ByteHandler = std::function<bool(std::string_view chunk)>;

// After this, Ctrl-C makes a running request end with Status::Cancelled instead of killing the
// process, so the CLI can say what happened; the dropped connection tells bimd to cancel a release
// that has not switched traffic yet. A second Ctrl-C kills the process as usual.
void InterruptTransfersOnCtrlC();

class ApiClient {
 public:
  explicit ApiClient(ServerConfig config) : config_(std::move(config)) {}

  // JSON request/response. On HTTP >= 400 returns the Status bimd sent ({"error":{code,message}}).
  // Unavailable when bimd cannot be reached.
  Status Get(const std::string& path, nlohmann::json* out) const;
  // The same, keeping the answer's text (for a big answer the caller passes on or reads as a stream);
  // `validate` = false skips the check that it is JSON, for a caller that parses it anyway.
  Status GetText(const std::string& path, std::string* out, bool validate = true) const;
  Status Delete(const std::string& path, nlohmann::json* out) const;
  // POSTs `body` as application/json; same answers as Get.
  Status Post(const std::string& path, const nlohmann::json& body, nlohmann::json* out) const;

  // GETs an NDJSON stream, calling on_event per object, until the server ends it. Heartbeat events
  // are dropped here.
  Status Stream(const std::string& path, const EventHandler& on_event) const;

  // POSTs `body` as JSON and reads the answer as an NDJSON stream, calling on_event per object (a
  // plain JSON answer arrives as one event). Heartbeats are dropped. On HTTP >= 400 returns bimd's
  // Status; Unavailable when bimd cannot be reached.
  Status PostStream(const std::string& path, const nlohmann::json& body, const EventHandler& on_event) const;

  // POSTs `text` as text/plain; same answers as Get.
  Status PostText(const std::string& path, const std::string& text, nlohmann::json* out) const;

  // POSTs a deploy: multipart "meta" (JSON) and, unless `file_path` is "", a file part named `part`
  // ("contents", "image" or the older whole-tar "context") streamed from disk, then reads the NDJSON
  // event stream. Upload progress is reported as it goes.
  Status Deploy(const std::string& app, const nlohmann::json& meta, const std::string& part,
                const std::string& file_path, const EventHandler& on_event, const UploadProgress& on_upload) const;

  // GETs `path` and hands the body to `sink` as it arrives (a volume backup). On HTTP >= 400
  // returns bimd's Status; Unavailable if the stream broke off (an incomplete download).
  Status Download(const std::string& path, const ByteHandler& sink) const;

  // PUTs the file at `file_path` as the body (streamed from disk, progress reported) and reads the
  // NDJSON answer like PostStream (a volume restore).
  Status PutFileStream(const std::string& path, const std::string& file_path, const EventHandler& on_event,
                       const UploadProgress& on_upload) const;

  const ServerConfig& config() const { return config_; }

 private:
  ServerConfig config_;
};

}  // namespace bim
