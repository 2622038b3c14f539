#include "cli/mcp_server.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <regex>

namespace bim {

using nlohmann::json;

namespace {

bool IsType(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    // JavaScript clients may send 5.0 for 5.
    return value.is_number_float() && std::isfinite(value.get<double>()) &&
           value.get<double>() == std::floor(value.get<double>());
  }
  if (type == "null") return value.is_null();
  return false;
}

// Only the first problem is reported: one line a model can act on.
std::string Describe(const json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  return "null";
}

// JSON Schema patterns are ECMA-262 regular expressions, std::regex's default grammar.
bool MatchesPattern(const json& pattern, const std::string& text) {
  if (!pattern.is_string()) return true;
  try {
    return std::regex_search(text, std::regex(pattern.get<std::string>()));
  } catch (const std::regex_error&) {
    return true;  // a bad pattern is our bug; it must not reject every call
  }
}

// The schema's description says what is allowed better than a regular expression does.
std::string Hint(const json& schema, const std::string& fallback) {
  if (schema.contains("description") && schema["description"].is_string())
    return "is not valid (" + schema["description"].get<std::string>() + ")";
  return fallback;
}

}  // namespace

Status ValidateJsonSchema(const json& schema, const json& value, const std::string& path) {
  if (!schema.is_object()) return Status::OK();
  if (schema.contains("type")) {
    const json& type = schema["type"];
    bool ok = false;
    std::string wanted;
    if (type.is_string()) {
      ok = IsType(value, type.get<std::string>());
      wanted = type.get<std::string>();
    } else if (type.is_array()) {
      for (const auto& t : type) {
        if (!t.is_string()) continue;
        ok = ok || IsType(value, t.get<std::string>());
        wanted += (wanted.empty() ? "" : " or ") + t.get<std::string>();
      }
    }
    if (!ok) return Status::InvalidArgument(path + " must be " + wanted + ", not " + Describe(value));
  }
  if (value.is_number()) {
    double v = value.get<double>();
    if (schema.contains("minimum") && v < schema["minimum"].get<double>())
      return Status::InvalidArgument(path + " must be at least " + schema["minimum"].dump());
    if (schema.contains("maximum") && v > schema["maximum"].get<double>())
      return Status::InvalidArgument(path + " must be at most " + schema["maximum"].dump());
  }
  if (value.is_string()) {
    // Length in bytes; the limits bim uses are ASCII-only names.
    if (schema.contains("minLength") && value.get<std::string>().size() < schema["minLength"].get<size_t>())
      return Status::InvalidArgument(path + " must not be empty");
    if (schema.contains("maxLength") && value.get<std::string>().size() > schema["maxLength"].get<size_t>())
      return Status::InvalidArgument(path + " is longer than " + schema["maxLength"].dump() + " characters");
    if (schema.contains("pattern") && !MatchesPattern(schema["pattern"], value.get<std::string>()))
      return Status::InvalidArgument(path + " " + Hint(schema, "does not match " + schema["pattern"].dump()));
  }
  if (value.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < value.size(); ++i) {
      Status s = ValidateJsonSchema(schema["items"], value[i], path + "[" + std::to_string(i) + "]");
      if (!s.ok()) return s;
    }
  }
  if (value.is_object()) {
    if (schema.contains("required")) {
      for (const auto& key : schema["required"]) {
        if (key.is_string() && !value.contains(key.get<std::string>()))
          return Status::InvalidArgument(path + "." + key.get<std::string>() + " is required");
      }
    }
    const json empty = json::object();
    const json& properties = schema.contains("properties") ? schema["properties"] : empty;
    for (const auto& [key, item] : value.items()) {
      std::string item_path = path + "." + key;
      if (schema.contains("propertyNames") && schema["propertyNames"].contains("pattern") &&
          !MatchesPattern(schema["propertyNames"]["pattern"], key))
        return Status::InvalidArgument(path + " key \"" + key + "\" " +
                                       Hint(schema["propertyNames"], "is not an allowed name"));
      if (properties.contains(key)) {
        Status s = ValidateJsonSchema(properties[key], item, item_path);
        if (!s.ok()) return s;
      } else if (schema.contains("additionalProperties")) {
        const json& extra = schema["additionalProperties"];
        if (extra.is_boolean() && !extra.get<bool>())
          return Status::InvalidArgument(item_path + " is not a known argument");
        Status s = ValidateJsonSchema(extra, item, item_path);
        if (!s.ok()) return s;
      }
    }
  }
  return Status::OK();
}

const std::vector<std::string>& McpServer::SupportedProtocolVersions() {
  static const std::vector<std::string> versions{"2025-06-18", "2025-03-26", "2024-11-05"};
  return versions;
}

McpServer::McpServer(std::istream& in, std::ostream& out, std::vector<McpTool> tools, std::string version)
    : in_(in), out_(out), tools_(std::move(tools)), version_(std::move(version)) {}

int McpServer::Run() {
  std::string line;
  while (std::getline(in_, line)) HandleLine(line);
  return 0;
}

void McpServer::Send(const json& message) {
  // dump() without indentation never emits a raw newline, so every message is exactly one line, as
  // the stdio transport requires. Invalid UTF-8 (e.g. from container logs) is replaced, not thrown.
  out_ << message.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  out_.flush();
}

void McpServer::SendError(const json& id, int code, const std::string& message) {
  Send(json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
}

void McpServer::HandleLine(const std::string& raw) {
  std::string line = raw;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.find_first_not_of(" \t") == std::string::npos) return;
  json message = json::parse(line, nullptr, false);
  if (message.is_discarded()) {
    std::fprintf(stderr, "bim mcp: received a line that is not JSON (%zu bytes)\n", line.size());
    return SendError(nullptr, jsonrpc::kParseError, "Parse error: the message is not valid JSON");
  }
  try {
    Dispatch(message);
  } catch (const std::exception& e) {
    // A bug, not bad input (inputs are checked before use); answer rather than die.
    std::fprintf(stderr, "bim mcp: internal error: %s\n", e.what());
    json id = message.is_object() && message.contains("id") ? message["id"] : json(nullptr);
    SendError(id, jsonrpc::kInternalError, std::string("Internal error: ") + e.what());
  }
}

void McpServer::Dispatch(const json& message) {
  if (message.is_array())
    return SendError(nullptr, jsonrpc::kInvalidRequest,
                     "Invalid Request: JSON-RPC batches are not supported (MCP 2025-06-18); send one message per line");
  if (!message.is_object()) return SendError(nullptr, jsonrpc::kInvalidRequest, "Invalid Request: not a JSON object");
  bool has_id = message.contains("id");
  json id = has_id ? message["id"] : json(nullptr);
  bool id_ok = id.is_string() || id.is_number_integer();
  if (message.value("jsonrpc", json()) != "2.0")
    return SendError(id_ok ? id : json(nullptr), jsonrpc::kInvalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
  if (!message.contains("method")) {
    // A response to a request: this server sends none, so there is nothing to match it with.
    if (has_id && (message.contains("result") || message.contains("error"))) {
      std::fprintf(stderr, "bim mcp: ignoring a response to a request this server never sent\n");
      return;
    }
    return SendError(id_ok ? id : json(nullptr), jsonrpc::kInvalidRequest, "Invalid Request: \"method\" is missing");
  }
  if (!message["method"].is_string())
    return SendError(id_ok ? id : json(nullptr), jsonrpc::kInvalidRequest, "Invalid Request: \"method\" must be a string");
  if (has_id && !id_ok)
    return SendError(nullptr, jsonrpc::kInvalidRequest, "Invalid Request: \"id\" must be a string or an integer");
  std::string method = message["method"].get<std::string>();
  const json empty = json::object();
  if (message.contains("params") && !message["params"].is_object()) {
    if (!has_id) return;
    return SendError(id, jsonrpc::kInvalidParams, "Invalid params: \"params\" must be an object");
  }
  const json& params = message.contains("params") ? message["params"] : empty;

  if (!has_id) {
    // Notifications never get an answer. notifications/cancelled cannot interrupt anything: requests
    // are served one at a time, so the one it names has already been answered.
    if (method != "notifications/initialized" && method != "notifications/cancelled")
      std::fprintf(stderr, "bim mcp: ignoring notification %s\n", method.c_str());
    return;
  }

  if (method == "initialize") {
    if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string())
      return SendError(id, jsonrpc::kInvalidParams, "Invalid params: initialize needs a string \"protocolVersion\"");
    return Send(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", Initialize(params)}});
  }
  if (method == "ping") return Send(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", json::object()}});
  if (method == "tools/list") return Send(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", ListTools()}});
  if (method == "tools/call") {
    json result;
    int code = 0;
    std::string error;
    // Progress notifications are sent while the tool runs, before its response.
    json token = params.contains("_meta") && params["_meta"].is_object() ? params["_meta"].value("progressToken", json())
                                                                          : json();
    progress_token_ = (token.is_string() || token.is_number_integer()) ? token : json();
    bool ok = CallTool(params, &result, &code, &error);
    progress_token_ = json();
    if (!ok) return SendError(id, code, error);
    return Send(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
  }
  SendError(id, jsonrpc::kMethodNotFound, "Method not found: " + method);
}

json McpServer::Initialize(const json& params) {
  std::string requested = params["protocolVersion"].get<std::string>();
  const auto& supported = SupportedProtocolVersions();
  // Echo the client's version when we speak it, else offer our newest and let the client decide.
  protocol_version_ = supported.front();
  for (const auto& v : supported)
    if (v == requested) protocol_version_ = v;
  std::string client = params.contains("clientInfo") && params["clientInfo"].is_object()
                           ? params["clientInfo"].value("name", "an unnamed client")
                           : "an unnamed client";
  std::fprintf(stderr, "bim mcp: %s asked for protocol %s; speaking %s\n", client.c_str(), requested.c_str(),
               protocol_version_.c_str());
  return json{{"protocolVersion", protocol_version_},
              {"capabilities", {{"tools", {{"listChanged", false}}}}},
              {"serverInfo", {{"name", "bim"}, {"title", "bim: deploy app folders to a bimd server"}, {"version", version_}}},
              {"instructions",
               "bim deploys an app folder (a Dockerfile, optional .env and bim.toml) to a bimd server and "
               "manages it there. Use `deploy` with the folder path, then `status` and `logs` to check it; "
               "`rollback` puts a previous release back live; `env_list` shows variable names (values are "
               "always masked) and `env_set` changes variables by making a new release."}};
}

json McpServer::ListTools() const {
  json list = json::array();
  for (const auto& tool : tools_) {
    json t{{"name", tool.name},
           {"title", tool.title},
           {"description", tool.description},
           {"inputSchema", tool.input_schema},
           {"outputSchema", tool.output_schema}};
    if (!tool.annotations.empty()) t["annotations"] = tool.annotations;
    list.push_back(std::move(t));
  }
  return json{{"tools", list}};
}

bool McpServer::CallTool(const json& params, json* result, int* error_code, std::string* error_message) {
  *error_code = jsonrpc::kInvalidParams;
  if (!params.contains("name") || !params["name"].is_string()) {
    *error_message = "Invalid params: tools/call needs a string \"name\"";
    return false;
  }
  std::string name = params["name"].get<std::string>();
  const McpTool* tool = nullptr;
  for (const auto& t : tools_)
    if (t.name == name) tool = &t;
  if (!tool) {
    *error_message = "Unknown tool: " + name;
    return false;
  }
  json arguments = params.contains("arguments") ? params["arguments"] : json::object();
  if (arguments.is_null()) arguments = json::object();
  Status s = ValidateJsonSchema(tool->input_schema, arguments, "arguments");
  if (!s.ok()) {
    *error_message = "Invalid arguments for tool " + name + ": " + s.message();
    return false;
  }
  int64_t step = 0;
  McpProgress progress = [&](const std::string& message) {
    std::fprintf(stderr, "bim mcp: %s: %s\n", name.c_str(), message.c_str());
    if (progress_token_.is_null()) return;
    Send(json{{"jsonrpc", "2.0"},
              {"method", "notifications/progress"},
              {"params", {{"progressToken", progress_token_}, {"progress", ++step}, {"message", message}}}});
  };
  McpToolResult out;
  tool->run(arguments, progress, &out);
  json content = json::array({json{{"type", "text"}, {"text", out.text}}});
  *result = json{{"content", content}, {"structuredContent", out.structured}, {"isError", out.is_error}};
  return true;
}

}  // namespace bim
