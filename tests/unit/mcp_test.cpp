// McpServer's JSON-RPC framing and dispatch, driven through in-memory streams with fake tools (the
// bim tools themselves are exercised against a real bimd by tests/mcp/conformance.mjs).
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "cli/mcp_server.h"
#include "cli/mcp_tools.h"

namespace bim {
namespace {

using nlohmann::json;

std::vector<McpTool> FakeTools() {
  McpTool echo;
  echo.name = "echo";
  echo.title = "Echo";
  echo.description = "Returns its text; fails when asked to.";
  echo.input_schema = {{"type", "object"},
                       {"properties", {{"text", {{"type", "string"}, {"minLength", 1}}},
                                       {"times", {{"type", "integer"}, {"minimum", 1}}},
                                       {"fail", {{"type", "boolean"}}}}},
                       {"required", json::array({"text"})},
                       {"additionalProperties", false}};
  echo.output_schema = {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}};
  echo.run = [](const json& args, const McpProgress& progress, McpToolResult* out) {
    progress("working");
    progress("almost done");
    if (args.value("fail", false)) {
      out->is_error = true;
      out->text = "error: asked to fail";
      return;
    }
    out->text = args["text"].get<std::string>();
    out->structured = {{"text", out->text}};
  };
  return {echo};
}

// Feeds `input` (lines) to a server and returns every line it wrote, parsed.
std::vector<json> Exchange(const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out;
  McpServer server(in, out, FakeTools(), "test");
  EXPECT_EQ(server.Run(), 0);
  std::vector<json> messages;
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not one JSON message per line: " << line;
    messages.push_back(j);
  }
  return messages;
}

json One(const std::string& line) {
  std::vector<json> got = Exchange(line + "\n");
  EXPECT_EQ(got.size(), 1u) << line;
  return got.empty() ? json() : got[0];
}

TEST(McpServer, MalformedJsonIsParseErrorWithNullId) {
  json r = One("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
  EXPECT_EQ(r["jsonrpc"], "2.0");
  EXPECT_TRUE(r["id"].is_null());
  EXPECT_EQ(r["error"]["code"], -32700);
  EXPECT_FALSE(r.contains("result"));
}

TEST(McpServer, UnknownMethodIsMethodNotFoundEchoingTheId) {
  json r = One(R"({"jsonrpc":"2.0","id":"abc","method":"resources/list"})");
  EXPECT_EQ(r["id"], "abc");
  EXPECT_EQ(r["error"]["code"], -32601);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("resources/list"), std::string::npos);
}

TEST(McpServer, MessagesThatAreNotRequestsAreInvalidRequest) {
  EXPECT_EQ(One(R"({"id":1,"method":"ping"})")["error"]["code"], -32600);                     // no jsonrpc
  EXPECT_EQ(One(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")["error"]["code"], -32600);
  EXPECT_EQ(One(R"({"jsonrpc":"2.0","id":1,"method":7})")["error"]["code"], -32600);
  EXPECT_EQ(One(R"({"jsonrpc":"2.0","id":null,"method":"ping"})")["error"]["code"], -32600);  // MCP: id not null
  EXPECT_EQ(One(R"({"jsonrpc":"2.0","id":{"a":1},"method":"ping"})")["error"]["code"], -32600);
  EXPECT_EQ(One(R"("just a string")")["error"]["code"], -32600);
  json batch = One(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(batch["error"]["code"], -32600);
  EXPECT_TRUE(batch["id"].is_null());
}

TEST(McpServer, NotificationsAndResponsesGetNoAnswer) {
  std::vector<json> got = Exchange(
      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1}}\n"
      "{\"jsonrpc\":\"2.0\",\"method\":\"no/such/notification\"}\n"
      "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}\n"
      "\n   \n"
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\r\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["id"], 2);
  EXPECT_EQ(got[0]["result"], json::object());
}

TEST(McpServer, InitializeNegotiatesTheProtocolVersion) {
  json r = One(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26",)"
               R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-03-26");
  EXPECT_TRUE(r["result"]["capabilities"]["tools"].is_object());
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "bim");
  EXPECT_EQ(r["result"]["serverInfo"]["version"], "test");

  r = One(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01"}})");
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");  // our newest; the client decides

  EXPECT_EQ(One(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})")["error"]["code"], -32602);
}

TEST(McpServer, ToolsListCarriesSchemas) {
  json r = One(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}})");
  ASSERT_EQ(r["result"]["tools"].size(), 1u);
  const json& tool = r["result"]["tools"][0];
  EXPECT_EQ(tool["name"], "echo");
  EXPECT_EQ(tool["inputSchema"]["type"], "object");
  EXPECT_EQ(tool["outputSchema"]["type"], "object");
}

TEST(McpServer, BadToolCallsAreInvalidParams) {
  auto code = [](const std::string& params) {
    return One(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":)" + params + "}")["error"]["code"];
  };
  EXPECT_EQ(code(R"({"name":"nope","arguments":{}})"), -32602);             // unknown tool
  EXPECT_EQ(code(R"({"arguments":{}})"), -32602);                           // no name
  EXPECT_EQ(code(R"({"name":"echo","arguments":{}})"), -32602);             // missing required
  EXPECT_EQ(code(R"({"name":"echo","arguments":{"text":5}})"), -32602);     // wrong type
  EXPECT_EQ(code(R"({"name":"echo","arguments":{"text":""}})"), -32602);    // minLength
  EXPECT_EQ(code(R"({"name":"echo","arguments":{"text":"a","times":0}})"), -32602);   // minimum
  EXPECT_EQ(code(R"({"name":"echo","arguments":{"text":"a","extra":1}})"), -32602);   // additionalProperties
  EXPECT_EQ(code(R"({"name":"echo","arguments":[1]})"), -32602);            // arguments not an object
  EXPECT_EQ(code(R"([1,2])"), -32602);                                      // params not an object
  json r = One(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":5}}})");
  EXPECT_EQ(r["error"]["message"], "Invalid arguments for tool echo: arguments.text must be string, not a number");
}

TEST(McpServer, ToolResultsAndToolFailures) {
  json r = One(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","times":2.0}}})");
  EXPECT_EQ(r["result"]["isError"], false);
  EXPECT_EQ(r["result"]["content"][0]["type"], "text");
  EXPECT_EQ(r["result"]["content"][0]["text"], "hi");
  EXPECT_EQ(r["result"]["structuredContent"]["text"], "hi");

  r = One(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","fail":true}}})");
  EXPECT_FALSE(r.contains("error"));  // a tool that ran and failed is a result, not a protocol error
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["text"], "error: asked to fail");
}

TEST(McpServer, ProgressIsNotifiedOnlyWhenAskedFor) {
  std::vector<json> got = Exchange(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"},"_meta":{"progressToken":"p1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b"}}})"
      "\n");
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0]["method"], "notifications/progress");
  EXPECT_EQ(got[0]["params"]["progressToken"], "p1");
  EXPECT_EQ(got[0]["params"]["progress"], 1);
  EXPECT_EQ(got[1]["params"]["progress"], 2);  // strictly increasing
  EXPECT_EQ(got[1]["params"]["message"], "almost done");
  EXPECT_EQ(got[2]["id"], 1);
  EXPECT_EQ(got[3]["id"], 2);  // no progress for the call without a token
}

TEST(McpServer, OutputIsOneLinePerMessageEvenWithNewlinesAndBadUtf8) {
  std::istringstream in(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a\nb\u2028c"}}})"
                        "\n");
  std::ostringstream out;
  std::vector<McpTool> tools = FakeTools();
  tools[0].run = [](const json&, const McpProgress&, McpToolResult* r) { r->text = "line1\nline2 \xff\xfe"; };
  McpServer(in, out, tools, "t").Run();
  std::string text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1);
  json r = json::parse(text);
  EXPECT_EQ(r["result"]["content"][0]["text"].get<std::string>().substr(0, 12), "line1\nline2 ");
}

TEST(JsonSchema, ValidatesTheSubsetTheToolsUse) {
  json schema = {{"type", "object"},
                 {"properties", {{"vars", {{"type", "object"},
                                           {"propertyNames", {{"pattern", "^[A-Z_]+$"}}},
                                           {"additionalProperties", {{"type", "string"}}}}},
                                 {"names", {{"type", "array"}, {"items", {{"type", "string"}, {"maxLength", 3}}}}},
                                 {"app", {{"type", "string"}, {"pattern", "^[a-z]+$"}, {"description", "lower-case"}}}}}};
  EXPECT_TRUE(ValidateJsonSchema(schema, json::parse(R"({"vars":{"A":"1"},"names":["abc"],"app":"x"})"), "arguments").ok());
  Status s = ValidateJsonSchema(schema, json::parse(R"({"vars":{"a":"1"}})"), "arguments");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("arguments.vars key \"a\""), std::string::npos) << s.message();
  s = ValidateJsonSchema(schema, json::parse(R"({"vars":{"A":1}})"), "arguments");
  EXPECT_EQ(s.message(), "arguments.vars.A must be string, not a number");
  s = ValidateJsonSchema(schema, json::parse(R"({"names":["abcd"]})"), "arguments");
  EXPECT_EQ(s.message(), "arguments.names[0] is longer than 3 characters");
  s = ValidateJsonSchema(schema, json::parse(R"({"app":"X"})"), "arguments");
  EXPECT_EQ(s.message(), "arguments.app is not valid (lower-case)");
}

TEST(BimMcpTools, AllEightToolsWithConsistentSchemas) {
  std::set<std::string> names;
  for (const McpTool& tool : BimMcpTools()) {
    names.insert(tool.name);
    EXPECT_FALSE(tool.description.empty()) << tool.name;
    EXPECT_TRUE(tool.run) << tool.name;
    for (const json* schema : {&tool.input_schema, &tool.output_schema}) {
      EXPECT_EQ((*schema)["type"], "object") << tool.name;
      for (const auto& key : schema->value("required", json::array()))
        EXPECT_TRUE((*schema)["properties"].contains(key.get<std::string>())) << tool.name << " requires " << key;
    }
    // A failed call's structured content must match the output schema too.
    json failure = {{"ok", false}, {"error", {{"code", "unavailable"}, {"message", "x"}}}};
    EXPECT_TRUE(ValidateJsonSchema(tool.output_schema, failure, "result").ok()) << tool.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"deploy", "status", "releases", "logs", "rollback", "env_list", "env_set",
                                          "apps", "scale", "nodes", "volumes"}));
}

TEST(BimMcpTools, BadArgumentsNeverReachBimd) {
  // No server is configured: if validation let these through, the tools would fail as isError results
  // instead of the -32602 the spec asks for.
  auto call = [](const std::string& name, const std::string& args) {
    std::istringstream in(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":")" + name +
                          R"(","arguments":)" + args + "}}\n");
    std::ostringstream out;
    McpServer(in, out, BimMcpTools(), "t").Run();
    return json::parse(out.str());
  };
  EXPECT_EQ(call("status", R"({"app":"Not_Valid"})")["error"]["code"], -32602);
  EXPECT_EQ(call("deploy", R"({})")["error"]["code"], -32602);
  EXPECT_EQ(call("logs", R"({"app":"a","tail":-1})")["error"]["code"], -32602);
  EXPECT_EQ(call("rollback", R"({"app":"a","to":"latest"})")["error"]["code"], -32602);
  EXPECT_EQ(call("env_set", R"({"app":"a","vars":{"1X":"v"}})")["error"]["code"], -32602);
  EXPECT_EQ(call("env_set", R"({"app":"a","vars":{"X":5}})")["error"]["code"], -32602);
  EXPECT_EQ(call("apps", R"({"extra":true})")["error"]["code"], -32602);
}

}  // namespace
}  // namespace bim
