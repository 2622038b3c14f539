// `bim init` and what it writes, on the real stack: the Dockerfile init writes for a C/C++ app builds
// and deploys through a real bimd (its compiler image made here from this host's packages, since no
// registry is reachable); plain `bim init` names the app after the folder it runs in; every command the
// generated agent files tell an agent to run works against a real bimd; a mistyped command gets a hint.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/file_util.h"
#include "docker/engine_http.h"
#include "support/bimd_harness.h"
#include "support/doc_commands.h"
#include "support/local_base_image.h"
#include "support/scratch.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(InitIntegrationTest, CmakeStackDockerfileBuildsAndDeploysForReal) {
  const std::string suffix = UniqueSuffix();
  const std::string label_key = "im.backend.bim.test.base";
  // Removes the compiler image and every intermediate image built on it (they inherit its label),
  // pass or fail; declared first so it runs after bimd has removed its own images.
  struct BaseImageGuard {
    std::string key, value;
    ~BaseImageGuard() { EXPECT_EQ(RemoveLabelledImages(key, value), 0) << "base images left behind"; }
  } guard{label_key, suffix};

  const std::string builder = "bim-test-gcc-" + suffix + ":12";
  BaseImageStats stats;
  std::string error;
  ASSERT_TRUE(MakeLocalBaseImage({"g++", "make", "cmake", "dash", "coreutils", "libc6-dev"}, builder, label_key, suffix,
                                 &stats, &error))
      << error;
  std::printf("[ figures  ] local compiler image: %d packages, %lld files, %.0f MB; tar %lld ms, import %lld ms\n",
              stats.packages, stats.files, stats.bytes / 1e6, stats.tar_ms, stats.import_ms);

  Bimd server({"--drain-grace-ms", "500"});
  TempDir folder("cmake-app-" + suffix);
  const std::string app = "cmake-app-" + suffix;
  folder.Write("CMakeLists.txt",
               "cmake_minimum_required(VERSION 3.16)\nproject(hello CXX)\nset(CMAKE_CXX_STANDARD 17)\n"
               "add_executable(hello-server server.cpp)\n");
  fs::copy_file(std::string(BIM_SOURCE_DIR) + "/examples/hello/server.cpp", folder.path() + "/server.cpp");
  folder.Write(".env", "GREETING=\"built by cmake\"\n");

  CommandResult init = server.Bim({"init", folder.path(), "--json"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  json doc = init.Json();
  EXPECT_EQ(doc.value("stack", ""), "cmake");
  EXPECT_EQ(doc.value("app", ""), app);
  EXPECT_EQ(doc["written"].size(), 4u) << doc.dump();  // bim.toml, Dockerfile, .dockerignore, .env.example
  std::string dockerfile = ReadText(folder.path() + "/Dockerfile");
  EXPECT_NE(dockerfile.find("ARG BUILDER_IMAGE=gcc:12"), std::string::npos) << dockerfile;
  EXPECT_NE(dockerfile.find("--target hello-server"), std::string::npos) << dockerfile;

  // No registry here: the compiler image is the local one, passed as a build arg from bim.toml.
  folder.Write("bim.toml", "\n[build.args]\nBUILDER_IMAGE = \"" + builder + "\"\n", /*append=*/true);
  long long t0 = MonotonicMillis();
  CommandResult deploy = server.Bim({"deploy", folder.path(), "--json"}, 600);
  long long deploy_ms = MonotonicMillis() - t0;
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err << server.Log();
  std::printf("[ figures  ] cmake app: init + deploy (compile in the builder stage, FROM scratch) %lld ms\n",
              deploy_ms);
  HttpResult page = server.Get(app);
  EXPECT_EQ(page.status, 200) << page.error;
  EXPECT_EQ(page.body, "Hello from bim! built by cmake\n");

  // The running image is the scratch stage: one static binary, run as nobody.
  json containers = json::parse(
      EngineGet("/containers/json?filters=" +
                engine::QueryEscape(json{{"label", {"im.backend.bim.app=" + app}}}.dump())),
      nullptr, false);
  ASSERT_TRUE(containers.is_array() && containers.size() == 1) << containers.dump();
  json image = json::parse(EngineGet("/images/" + containers[0].value("ImageID", "") + "/json"), nullptr, false);
  EXPECT_EQ(image["Config"].value("User", ""), "65534:65534");
  EXPECT_LT(image.value("Size", 0LL), 20'000'000LL) << "the final stage should hold only the static binary";
}

TEST(InitIntegrationTest, PlainInitNamesTheAppAfterTheCurrentFolder) {
  for (const std::string name : {"my-api", "Shop_Front", "svc2"}) {
    TempDir parent("init-name-" + UniqueSuffix());
    const std::string dir = parent.path() + "/" + name;
    parent.Write(name + "/package.json", R"({"scripts":{"start":"node app.js"}})");
    parent.Write(name + "/yarn.lock", "# yarn lockfile v1\n\n\n");
    ProcessOptions in_folder;
    in_folder.cwd = dir;
    CommandResult init = RunProcessWith({BuildPath("bim"), "init"}, {}, in_folder);
    ASSERT_EQ(init.exit_code, 0) << init.err;
    std::string expected = name == "Shop_Front" ? "shop-front" : name;
    EXPECT_NE(init.out.find("app \"" + expected + "\" from the folder name"), std::string::npos) << init.out;
    std::string toml = ReadText(dir + "/bim.toml");
    EXPECT_NE(toml.find("app = \"" + expected + "\""), std::string::npos) << toml;
    EXPECT_NE(toml.find("http://" + expected + ".<domain>/"), std::string::npos) << toml;
    EXPECT_NE(ReadText(dir + "/Dockerfile").find("yarn install --frozen-lockfile"), std::string::npos);
    // From a subfolder, ".." names the parent.
    fs::remove(dir + "/bim.toml");
    fs::create_directories(dir + "/sub");
    in_folder.cwd = dir + "/sub";
    init = RunProcessWith({BuildPath("bim"), "init", "..", "--json"}, {}, in_folder);
    ASSERT_EQ(init.exit_code, 0) << init.err;
    EXPECT_EQ(init.Json().value("app", ""), expected);
    EXPECT_EQ(init.Json().value("dir", ""), dir);
  }
}

TEST(InitIntegrationTest, UnknownCommandNamesTheWordAndSuggestsOne) {
  CommandResult r = RunProcess({BuildPath("bim"), "statu", "hello"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: unknown command \"statu\" for \"bim\"; did you mean \"bim status\"? (`bim --help` lists "
                   "the commands)\n");
  r = RunProcess({BuildPath("bim"), "env", "sett", "hello", "A=1", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean \"bim env set\"?"), std::string::npos) << r.err;
  EXPECT_FALSE(r.Json().value("ok", true)) << "--json still gets its one document: " << r.out;
}

// Every command the files of `bim init --agent claude` tell an agent to run, run as written (with vN
// and the server filled in) in the app's folder against a real bimd; a bare command name mentioned in
// prose is --help-checked.
TEST(InitIntegrationTest, EveryCommandTheAgentFilesNameRunsAgainstARealServer) {
  Bimd server({"--drain-grace-ms", "200"});
  const std::string app = "agent-" + UniqueSuffix();
  AppFolder folder(app, "GREETING=agent\n");
  CommandResult init = server.Bim({"init", folder.path(), "--agent", "claude"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  std::string text = ReadText(folder.path() + "/.claude/commands/deploy.md") + ReadText(folder.path() + "/CLAUDE.md");
  const std::set<std::string> words = {"deploy", "status", "releases", "logs", "rollback", "login", "up", "down"};
  std::vector<DocCommand> commands = FindDocCommands(text, words);
  std::set<std::string> seen;
  for (const auto& c : commands) seen.insert(c.argv[1]);
  EXPECT_EQ(seen, words) << "the agent files name these commands";

  ProcessOptions in_folder;
  in_folder.cwd = folder.path();
  in_folder.timeout_seconds = 300;
  // Two releases first, so "roll back" and "--to vN" have somewhere to go. The second changes .env:
  // a deploy of exactly what is live makes no new release.
  for (int i = 0; i < 2; ++i) {
    std::ofstream(folder.path() + "/.env", std::ios::trunc) << "GREETING=agent-" << i << "\n";
    CommandResult r = RunProcessWith({BuildPath("bim"), "deploy", "--json"}, server.CliEnv(), in_folder);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << server.Log();
  }
  int ran = 0;
  for (DocCommand c : commands) {
    const std::string& verb = c.argv[1];
    if (verb == "up" || verb == "down") continue;  // run locally, not against bimd: see up_test.cpp
    for (auto& arg : c.argv) {
      if (arg == "http://127.0.0.1:7878") arg = "http://127.0.0.1:" + std::to_string(server.api_port());
      if (arg == "bim_token") arg = server.token();
    }
    c.argv[0] = BuildPath("bim");
    // A bare command name in prose ("or `bim login`") names the command rather than running it:
    // it is checked with --help.
    if (c.argv.size() == 2) c.argv.push_back("--help");
    CommandResult r = RunProcessWith(c.argv, server.CliEnv(), in_folder);
    EXPECT_EQ(r.exit_code, 0) << "`" << c.line << "` failed: " << r.out << r.err;
    ++ran;
  }
  EXPECT_GE(ran, 8);
  HttpResult page = server.Get(app);
  EXPECT_EQ(page.status, 200) << page.error;
}

}  // namespace
}  // namespace bim::testing
