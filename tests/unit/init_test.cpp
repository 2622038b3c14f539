// `bim init` on sample folders of each stack, in a temp dir: which files are written, that nothing is
// overwritten without --force, and that what is written is right (parses, names the secrets, no values).
#include "cli/init_writer.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "unit/init_fixture.h"
#include "core/app_config.h"
#include "core/dockerignore.h"
#include "core/dotenv.h"

namespace bim {
namespace {

namespace fs = std::filesystem;

struct Sample {
  std::string stack;
  std::map<std::string, std::string> files;
  int port;
  int from_lines;  // multi-stage where the stack compiles
};

std::vector<Sample> Samples() {
  return {
      {"static", {{"index.html", "<h1>hi</h1>\n"}}, 8080, 1},
      {"node", {{"package.json", R"({"scripts":{"start":"node server.js"}})"}, {"server.js", ""}}, 3000, 1},
      {"python", {{"requirements.txt", "flask\n"}, {"app.py", ""}}, 8000, 1},
      {"go", {{"go.mod", "module x\n\ngo 1.22\n"}, {"main.go", "package main\n"}}, 8080, 2},
      {"cmake", {{"CMakeLists.txt", "project(h CXX)\nadd_executable(h main.cpp)\n"}, {"main.cpp", ""}}, 8080, 2},
      {"unknown", {{"README.md", "hi\n"}}, 8080, 0},
  };
}

TEST_F(InitTest, EachStackGetsItsFilesAndADockerfile) {
  for (const Sample& sample : Samples()) {
    SCOPED_TRACE(sample.stack);
    auto files = sample.files;
    files[".env"] = "# secrets\nDATABASE_URL=postgres://user:hunter2@db/x\nexport API_KEY='s3cr3t-value'\nEMPTY=\n";
    std::string dir = Folder("My " + sample.stack + "_App", files);
    InitReport r = Init(dir);
    EXPECT_EQ(r.stack.name, sample.stack);
    EXPECT_EQ(r.app, "my-" + sample.stack + "-app");
    EXPECT_EQ(r.port, sample.port);
    for (const char* f : {"bim.toml", "Dockerfile", ".dockerignore", ".env.example"})
      EXPECT_EQ(Action(r, f), "written") << f;
    EXPECT_EQ(Action(r, "docker-compose.yml"), "(not listed)");  // `bim up` runs the app from bim.toml itself
    EXPECT_EQ(Action(r, ".claude/commands/deploy.md"), "(not listed)");

    // bim.toml parses and names the app and the stack's port.
    AppConfig config;
    Status s = ParseAppConfig(Read(dir + "/bim.toml"), &config);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(config.app, r.app);
    EXPECT_EQ(config.port, sample.port);

    std::string dockerfile = Read(dir + "/Dockerfile");
    EXPECT_EQ(Instructions(dockerfile, "HEALTHCHECK"), 0) << dockerfile;
    EXPECT_EQ(Instructions(dockerfile, "FROM"), sample.from_lines) << dockerfile;
    if (sample.stack == "unknown") {
      EXPECT_NE(dockerfile.find("could not tell"), std::string::npos);
      EXPECT_EQ(Instructions(dockerfile, "USER"), 0);  // all commented out
    } else {
      EXPECT_EQ(Instructions(dockerfile, "USER"), 1) << dockerfile;
      EXPECT_EQ(Instructions(dockerfile, "USER root"), 0);
      EXPECT_NE(dockerfile.find("EXPOSE " + std::to_string(sample.port)), std::string::npos) << dockerfile;
    }

    // .dockerignore keeps secrets, git and build outputs out, and is valid for bim's own packer.
    DockerIgnore ignore;
    ASSERT_TRUE(DockerIgnore::Parse(Read(dir + "/.dockerignore"), &ignore).ok());
    EXPECT_TRUE(ignore.Excludes(".env"));
    EXPECT_TRUE(ignore.Excludes(".env.production"));
    EXPECT_TRUE(ignore.Excludes(".git"));
    EXPECT_FALSE(ignore.Excludes("Dockerfile"));

    // .env.example: the keys, no values.
    std::string example = Read(dir + "/.env.example");
    EnvList env;
    ASSERT_TRUE(ParseDotenv(example, &env).ok());
    EXPECT_EQ(env, (EnvList{{"DATABASE_URL", ""}, {"API_KEY", ""}, {"EMPTY", ""}}));
    EXPECT_EQ(example.find("hunter2"), std::string::npos);
    EXPECT_EQ(example.find("s3cr3t"), std::string::npos);

    // Comments stay true: bim.toml's URL comment names this app, and the Dockerfile names what it found.
    std::string toml = Read(dir + "/bim.toml");
    EXPECT_NE(toml.find("http://" + r.app + ".<domain>/"), std::string::npos) << toml;
    EXPECT_EQ(toml.find("http://app."), std::string::npos) << toml;
    if (sample.stack == "node" || sample.stack == "python") {
      EXPECT_NE(dockerfile.find(r.stack.reason), std::string::npos) << dockerfile;
    }
  }
}

TEST_F(InitTest, NothingIsOverwrittenWithoutForce) {
  std::string dir = Folder("keep", {{"index.html", "x"}, {"Dockerfile", "FROM scratch\n"}, {".env", "A=1\n"}});
  InitReport r = Init(dir);
  EXPECT_EQ(Action(r, "Dockerfile"), "skipped");
  EXPECT_EQ(Read(dir + "/Dockerfile"), "FROM scratch\n");
  EXPECT_EQ(Action(r, "bim.toml"), "written");

  Write(dir + "/bim.toml", "app = \"custom\"\nport = 9000\n");
  r = Init(dir);
  for (const auto& f : r.files) EXPECT_EQ(f.action, "skipped") << f.path;
  EXPECT_EQ(Read(dir + "/bim.toml"), "app = \"custom\"\nport = 9000\n");
  EXPECT_EQ(r.app, "custom");  // bim.toml decides the name and port the other files use
  EXPECT_EQ(r.port, 9000);

  r = Init(dir, /*force=*/true);
  EXPECT_EQ(Action(r, "Dockerfile"), "overwritten");
  EXPECT_NE(Read(dir + "/Dockerfile"), "FROM scratch\n");
  EXPECT_NE(Read(dir + "/Dockerfile").find("EXPOSE 9000"), std::string::npos);
  AppConfig config;
  ASSERT_TRUE(ParseAppConfig(Read(dir + "/bim.toml"), &config).ok());
  EXPECT_EQ(config.app, "custom");
  EXPECT_EQ(config.port, 9000);
}

TEST_F(InitTest, NoDotenvMeansNoExampleAndBadInputWritesNothing) {
  std::string dir = Folder("noenv", {{"index.html", "x"}});
  InitReport r = Init(dir);
  EXPECT_EQ(Action(r, ".env.example"), "skipped");
  EXPECT_FALSE(fs::exists(dir + "/.env.example"));

  std::string bad = Folder("badenv", {{"index.html", "x"}, {".env", "NOEQUALS\n"}});
  InitOptions o;
  o.dir = bad;
  InitReport r2;
  Status s = InitFolder(o, &r2);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(bad + "/bim.toml"));  // rendered first, written only if all is well
  o.dir = root_ + "/missing";
  EXPECT_EQ(InitFolder(o, &r2).code(), Code::kInvalidArgument);
  o.dir = dir;
  o.ci = "jenkins";
  EXPECT_EQ(InitFolder(o, &r2).code(), Code::kInvalidArgument);
}

TEST_F(InitTest, AgentClaudeWritesTheSlashCommandAndOneClaudeMdSection) {
  std::string dir = Folder("agent", {{"go.mod", "module x\n"}, {"CLAUDE.md", "# My project\nRules here.\n"}});
  InitReport r = Init(dir, false, "claude");
  EXPECT_EQ(Action(r, ".claude/commands/deploy.md"), "written");
  EXPECT_EQ(Action(r, "CLAUDE.md"), "appended");
  std::string command = Read(dir + "/.claude/commands/deploy.md");
  for (const char* needle : {"bim deploy --json", "error.message", "logs", "bim rollback agent"})
    EXPECT_NE(command.find(needle), std::string::npos) << needle;
  std::string claude = Read(dir + "/CLAUDE.md");
  EXPECT_EQ(claude.rfind("# My project\nRules here.\n", 0), 0u);  // the user's text is kept, first
  for (const char* needle : {"bim deploy --json", "bim status agent", "bim rollback agent"})
    EXPECT_NE(claude.find(needle), std::string::npos) << needle;

  // Re-running (even with --force) keeps exactly one section.
  r = Init(dir, false, "claude");
  EXPECT_EQ(Action(r, "CLAUDE.md"), "skipped");
  r = Init(dir, true, "claude");
  std::string again = Read(dir + "/CLAUDE.md");
  EXPECT_EQ(again, claude);
  size_t first = again.find("<!-- bim:begin");
  EXPECT_EQ(again.find("<!-- bim:begin", first + 1), std::string::npos);

  std::string fresh = Folder("fresh", {{"index.html", "x"}});
  r = Init(fresh, false, "claude");
  EXPECT_EQ(Action(r, "CLAUDE.md"), "written");
}

// Every step's `run`/`commands` text, to look for what the workflow does.
std::string AllText(const YAML::Node& node) {
  if (node.IsScalar()) return node.as<std::string>() + "\n";
  std::string out;
  if (node.IsSequence())
    for (const auto& item : node) out += AllText(item);
  if (node.IsMap())
    for (const auto& kv : node) out += kv.first.as<std::string>() + ": " + AllText(kv.second);
  return out;
}

TEST_F(InitTest, GithubWorkflowParsesAndUsesTheSecrets) {
  for (const Sample& sample : Samples()) {
    SCOPED_TRACE(sample.stack);
    std::string dir = Folder("gh-" + sample.stack, sample.files);
    InitReport r = Init(dir, false, "", "github");
    EXPECT_EQ(Action(r, ".github/workflows/deploy.yml"), "written");
    YAML::Node wf;
    ASSERT_NO_THROW(wf = YAML::LoadFile(dir + "/.github/workflows/deploy.yml"));
    ASSERT_TRUE(wf["jobs"]["test"]["steps"].IsSequence());
    YAML::Node deploy = wf["jobs"]["deploy"];
    EXPECT_EQ(deploy["needs"].as<std::string>(), "test");
    std::string test_text = AllText(wf["jobs"]["test"]);
    EXPECT_NE(test_text.find("docker build"), std::string::npos);
    YAML::Node last = deploy["steps"][deploy["steps"].size() - 1];
    EXPECT_EQ(last["env"]["BIM_SERVER"].as<std::string>(), "${{ secrets.BIM_SERVER }}");
    EXPECT_EQ(last["env"]["BIM_TOKEN"].as<std::string>(), "${{ secrets.BIM_TOKEN }}");
    EXPECT_NE(last["run"].as<std::string>().find("bim deploy --json"), std::string::npos);
    std::string deploy_text = AllText(deploy);
    EXPECT_NE(deploy_text.find("install -m 0755 /opt/bim/build/bim /usr/local/bin/bim"), std::string::npos);
    if (sample.stack == "node") {
      EXPECT_NE(test_text.find("npm test"), std::string::npos);
    }
    if (sample.stack == "go") {
      EXPECT_NE(test_text.find("go test ./..."), std::string::npos);
    }
    if (sample.stack == "cmake") {
      EXPECT_NE(test_text.find("ctest"), std::string::npos);
    }
    if (sample.stack == "python") {
      EXPECT_NE(test_text.find("compileall"), std::string::npos);
    }
  }
}

TEST_F(InitTest, DronePipelineParsesAndUsesTheSecrets) {
  for (const Sample& sample : Samples()) {
    SCOPED_TRACE(sample.stack);
    std::string dir = Folder("drone-" + sample.stack, sample.files);
    InitReport r = Init(dir, false, "", "drone");
    EXPECT_EQ(Action(r, ".drone.yml"), "written");
    YAML::Node p;
    ASSERT_NO_THROW(p = YAML::LoadFile(dir + "/.drone.yml"));
    EXPECT_EQ(p["kind"].as<std::string>(), "pipeline");
    ASSERT_EQ(p["steps"].size(), 2u);
    EXPECT_EQ(p["steps"][0]["name"].as<std::string>(), "test");
    EXPECT_TRUE(p["steps"][0]["image"].IsScalar());
    EXPECT_GE(p["steps"][0]["commands"].size(), 1u);
    YAML::Node deploy = p["steps"][1];
    EXPECT_EQ(deploy["environment"]["BIM_SERVER"]["from_secret"].as<std::string>(), "BIM_SERVER");
    EXPECT_EQ(deploy["environment"]["BIM_TOKEN"]["from_secret"].as<std::string>(), "BIM_TOKEN");
    YAML::Node commands = deploy["commands"];
    EXPECT_EQ(commands[commands.size() - 1].as<std::string>(), "bim deploy --json");
  }
}

TEST(EnvExampleTest, KeysOnlyInOrder) {
  std::string out;
  ASSERT_TRUE(EnvExampleFromDotenv("B=\"multi\nline\"\nA=x # note\nB=again\n", &out).ok());
  EXPECT_NE(out.find("\nB=\nA=\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("multi"), std::string::npos);
  EXPECT_EQ(EnvExampleFromDotenv("1BAD=x\n", &out).code(), Code::kInvalidArgument);
}

TEST(BuildArgsConfigTest, BuildArgsParseAndValidate) {
  AppConfig config;
  Status s = ParseAppConfig("app = \"x\"\n[build.args]\nBUILDER_IMAGE = \"local/gcc:12\"\nJOBS = \"4\"\n", &config);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(config.build_args, (std::map<std::string, std::string>{{"BUILDER_IMAGE", "local/gcc:12"}, {"JOBS", "4"}}));
  AppConfig bad;
  EXPECT_NE(ParseAppConfig("[build.args]\n1X = \"a\"\n", &bad).message().find("build.args"), std::string::npos);
  EXPECT_NE(ParseAppConfig("[build.args]\nX = 3\n", &bad).message().find("must be a string"), std::string::npos);
  EXPECT_NE(ParseAppConfig("[build.args]\nX = \"a\\nb\"\n", &bad).message().find("control character"),
            std::string::npos);
  EXPECT_NE(ParseAppConfig("[build]\nargz = 1\n", &bad).message().find("unknown key \"build.argz\""),
            std::string::npos);
  EXPECT_TRUE(bad.build_args.empty());
}

}  // namespace
}  // namespace bim
