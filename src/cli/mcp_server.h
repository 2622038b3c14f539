// McpServer: the Model Context Protocol (https://modelcontextprotocol.io, revision 2025-06-18) over
// the stdio transport: JSON-RPC 2.0 messages, one per line, read from an input stream and answered on
// an output stream. It implements the lifecycle (initialize, notifications/initialized, ping) and the
// tools feature (tools/list, tools/call); the tools themselves are supplied by the caller (see
// mcp_tools.h for bim's).
//
// Errors follow the spec: malformed JSON is -32700, a message that is not a JSON-RPC request is
// -32600, an unknown method -32601, bad params (including an unknown tool or arguments that do not
// match the tool's inputSchema) -32602. A tool that runs and fails answers a normal result with
// isError:true and a text saying why, so the model can read it and react.
//
// Nothing but protocol messages is written to the output stream; diagnostics go to stderr.
//
// Thread-safety: not thread-safe; Run() owns both streams until the input ends. Requests are served
// one at a time, in order.
#pragma once

#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace bim {

// What a tool call returns when it ran: `text` is the human summary for the model; `structured`
// (an object matching the tool's outputSchema) the machine-readable result. is_error marks a tool
// that ran and failed (a failed deploy, bimd unreachable, no such app).
struct McpToolResult {
  std::string text;
  nlohmann::json structured = nlohmann::json::object();
  bool is_error = false;
};

// Lets a running tool report progress; it becomes a notifications/progress message when the
// client asked for progress (params._meta.progressToken), and is dropped otherwise.
using McpProgress = std::function<void(const std::string& message)>;

struct McpTool {
  std::string name;
  std::string title;
  std::string description;
  nlohmann::json input_schema;   // JSON Schema (type "object"); arguments are validated against it
  nlohmann::json output_schema;  // JSON Schema (type "object") of McpToolResult::structured
  nlohmann::json annotations = nlohmann::json::object();  // readOnlyHint, destructiveHint, ...
  // Runs the tool with validated arguments and fills *result; never throws.
  std::function<void(const nlohmann::json& arguments, const McpProgress& progress, McpToolResult* result)> run;
};

// JSON-RPC 2.0 error codes used by MCP.
namespace jsonrpc {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
}  // namespace jsonrpc

// Checks `value` against the subset of JSON Schema bim's tools use: type (object, string, integer,
// number, boolean, array), properties, required, additionalProperties (false or a schema), minimum,
// maximum, minLength, maxLength, pattern, propertyNames.pattern, items. InvalidArgument naming the offending path ("arguments.vars.KEY")
// otherwise.
Status ValidateJsonSchema(const nlohmann::json& schema, const nlohmann::json& value, const std::string& path);

class McpServer {
 public:
  // The protocol revisions this server speaks, newest first.
  static const std::vector<std::string>& SupportedProtocolVersions();

  McpServer(std::istream& in, std::ostream& out, std::vector<McpTool> tools, std::string version);

  // Reads messages until the input ends and answers each request. Returns 0 at end of input.
  int Run();

  // Handles one line of input: writes the response (if any) and any notifications to the output.
  void HandleLine(const std::string& line);

 private:
  void Dispatch(const nlohmann::json& message);
  nlohmann::json Initialize(const nlohmann::json& params);
  nlohmann::json ListTools() const;
  // Returns true and fills *result, or false with *error_code/*error_message for a protocol error.
  bool CallTool(const nlohmann::json& params, nlohmann::json* result, int* error_code, std::string* error_message);
  void Send(const nlohmann::json& message);
  void SendError(const nlohmann::json& id, int code, const std::string& message);

  std::istream& in_;
  std::ostream& out_;
  std::vector<McpTool> tools_;
  std::string version_;
  std::string protocol_version_;  // negotiated in initialize; "" before
  nlohmann::json progress_token_;  // the running tools/call's _meta.progressToken; null when none
};

}  // namespace bim
