// engine_http: one HTTP request to the Docker Engine over its unix socket. Private to src/docker.
//
// Each Perform() call uses its own CURL easy handle and connection, so calls may run concurrently from
// any number of threads. Perform() only reports transport problems; judging the HTTP status is the
// caller's job (ErrorStatus turns an error answer into a Status).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "docker/docker_client.h"

namespace bim::engine {

// Receives a piece of a successful (2xx) answer's body as it arrives; pieces split anywhere.
using DataSink = std::function<void(std::string_view chunk)>;

struct Request {
  const char* method = "GET";     // "GET", "POST", "PUT" or "DELETE"
  std::string target;             // path and query after the API version, e.g. "/containers/json?all=1"
  std::string json_body;          // sent as application/json when non-empty (POST only)
  std::string body_file;          // when set, this file is streamed as the POST (or PUT) body
  std::string content_type = "application/x-tar";  // for body_file
  std::vector<std::string> headers;  // extra "Name: value" lines, e.g. X-Registry-Auth
  long timeout_seconds = 120;     // limit for the whole request; 0: none (builds, followed logs)
  DataSink on_data;               // when set, a 2xx body streams here instead of into Response::body
  CancelCheck cancelled;          // polled about once a second; true aborts with Cancelled
};

struct Response {
  long status = 0;
  std::string body;               // the whole body, unless on_data took it (error bodies always land here)
};

// Sends `request` to the Engine listening on `socket_path`. Unavailable when the socket does not answer
// (the message names the socket and says how to start dockerd), DeadlineExceeded after
// request.timeout_seconds, Cancelled when request.cancelled said so, Internal if body_file is unreadable.
Status Perform(const std::string& socket_path, const Request& request, Response* response);

// Maps an error answer (status >= 400) to a Status: 404 NotFound, 409 Conflict, anything else
// Internal. The message is "<what>: <Docker's message>".
Status ErrorStatus(const Response& response, const std::string& what);

// Percent-encodes everything but RFC 3986 unreserved characters, for query values.
std::string QueryEscape(std::string_view s);
// Like QueryEscape but keeps '/', ':' and '@', which image references carry in URL paths.
std::string PathEscape(std::string_view s);

// GETs a log stream (`target` answers with Docker's multiplexed stdout/stderr frames, or raw bytes
// for a TTY) and hands it to `on_line` line by line. With `follow` there is no time limit and
// `cancelled` ends it (then OK). Implemented in docker_streams.cpp.
Status StreamLogs(const std::string& socket_path, const std::string& target, bool follow, const LineSink& on_line,
                  const CancelCheck& cancelled, const std::string& what);
// The query of a logs request: "stdout=1&stderr=1&tail=N&follow=0|1" (tail < 0: all).
std::string LogQuery(int tail, bool follow);

}  // namespace bim::engine
