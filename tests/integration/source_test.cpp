// Honest sources: a deploy from a git work tree records its commit, and one from a tree with
// uncommitted changes is recorded as "<commit>-dirty" with the digest of the content shipped, in every
// place a release shows: `bim releases`, `bim status`, the git deployment history and the MCP tool.
// Real bimd, dockerd, nginx; the app's repository is made with libgit2 (no git binary).
#include <gtest/gtest.h>

#include <sstream>

#include "support/bimd_harness.h"
#include "support/git_repo.h"

namespace bim::testing {
namespace {

using nlohmann::json;

// Calls one MCP tool through `bim mcp` (stdio JSON-RPC) and returns its structuredContent.
json McpTool(const Bimd& server, const std::string& tool, const json& arguments) {
  std::string input =
      json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
           {"params", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()},
                       {"clientInfo", {{"name", "source_test"}, {"version", "1"}}}}}}.dump() + "\n" +
      json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}.dump() + "\n" +
      json{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"}, {"params", {{"name", tool}, {"arguments", arguments}}}}
          .dump() + "\n";
  ProcessOptions options;
  options.stdin_text = input;
  options.timeout_seconds = 60;
  CommandResult r = RunProcessWith({BuildPath("bim"), "mcp"}, server.CliEnv(), options);
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    json msg = json::parse(line, nullptr, false);
    if (msg.is_object() && msg.value("id", 0) == 2) return msg["result"].value("structuredContent", json::object());
  }
  ADD_FAILURE() << "no answer to tools/call from bim mcp: " << r.out << r.err;
  return json::object();
}

TEST(SourceTest, UncommittedChangesAreRecordedAsDirtyEverywhereAReleaseShows) {
  Bimd server({"--drain-grace-ms", "200"});
  const std::string app = "src-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=honest\n");
  folder.Write(".gitignore", ".env\n");  // secrets are never committed, and ignored files are not changes
  folder.Write(".dockerignore", ".git\n.env\n");  // the content digest covers what is shipped, not git's objects
  const std::string commit = CommitAll(folder.path(), "first");
  ASSERT_EQ(commit.size(), 40u);
  const std::string short_commit = commit.substr(0, 7);

  // v1: a clean tree.
  CommandResult deploy = server.Bim({"deploy", folder.path(), "--json"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err << server.Log();
  json v1 = deploy.Json()["details"];
  EXPECT_EQ(v1.value("git_commit", ""), commit);
  EXPECT_FALSE(v1.value("git_dirty", true));
  EXPECT_EQ(v1.value("source", ""), short_commit);
  const std::string digest1 = v1.value("source_digest", "");
  EXPECT_EQ(digest1.size(), 71u) << digest1;
  EXPECT_EQ(digest1.rfind("sha256:", 0), 0u);

  // v2: an untracked file in the app folder makes it dirty; the same HEAD is no longer the whole story.
  folder.Write("notes.txt", "not committed\n");
  deploy = server.Bim({"deploy", folder.path()});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  EXPECT_NE(deploy.err.find("Uncommitted changes: recorded as " + short_commit + "-dirty"), std::string::npos)
      << deploy.err;

  // bim releases, both forms.
  CommandResult releases = server.Bim({"releases", app, "--json"});
  ASSERT_EQ(releases.exit_code, 0) << releases.err;
  json v2 = releases.Json()["releases"][0];
  EXPECT_EQ(v2.value("release", ""), "v2");
  EXPECT_EQ(v2.value("git_commit", ""), commit);
  EXPECT_TRUE(v2.value("git_dirty", false));
  EXPECT_EQ(v2.value("source", ""), short_commit + "-dirty");
  EXPECT_NE(v2.value("source_digest", ""), digest1) << "the digest follows the content";
  EXPECT_EQ(releases.Json()["releases"][1].value("source", ""), short_commit);
  releases = server.Bim({"releases", app});
  EXPECT_NE(releases.out.find(short_commit + "-dirty"), std::string::npos) << releases.out;

  // bim status.
  CommandResult status = server.Bim({"status", app});
  EXPECT_NE(status.out.find("Commit:   " + commit + " with uncommitted changes (" + short_commit + "-dirty)"),
            std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("Content:  " + v2.value("source_digest", "")), std::string::npos) << status.out;

  // The deployment history: the record and the commit message.
  CommandResult history = server.Bim({"history", app, "--json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  json newest = history.Json()["commits"][0];
  EXPECT_TRUE(newest["record"].value("git_dirty", false)) << newest.dump(2);
  EXPECT_EQ(newest["record"].value("source_digest", ""), v2.value("source_digest", ""));
  EXPECT_NE(newest.value("summary", "").find("deploy of " + short_commit + "-dirty"), std::string::npos)
      << newest.dump(2);
  EXPECT_NE(newest.value("message", "").find(commit + " with uncommitted changes"), std::string::npos);

  // MCP: the releases tool shows the same.
  json tool = McpTool(server, "releases", {{"app", app}});
  ASSERT_TRUE(tool["releases"].is_array() && !tool["releases"].empty()) << tool.dump(2);
  EXPECT_EQ(tool["releases"][0].value("source", ""), short_commit + "-dirty");
  EXPECT_TRUE(tool["releases"][0].value("git_dirty", false));

  // Committing the change makes the next deploy clean again, with the new commit.
  const std::string second = CommitAll(folder.path(), "second");
  ASSERT_EQ(second.size(), 40u);
  deploy = server.Bim({"deploy", folder.path(), "--json"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.err;
  EXPECT_EQ(deploy.Json()["details"].value("source", ""), second.substr(0, 7));
  EXPECT_EQ(deploy.Json()["details"].value("source_digest", ""), v2.value("source_digest", ""))
      << "same files, same digest, whatever git says";
}

}  // namespace
}  // namespace bim::testing
