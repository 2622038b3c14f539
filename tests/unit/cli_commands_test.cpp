// The bim command line as people and agents meet it: every command named in the README and in what
// `bim init` generates (agent files, CI workflows, bim.toml and Dockerfile comments) parses with the
// real CLI definition, and a mistyped command names the word and suggests the closest command.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/command_registry.h"
#include "cli/init_writer.h"
#include "support/doc_commands.h"

namespace bim {
namespace {

namespace fs = std::filesystem;
using testing::DocCommand;
using testing::FindDocCommands;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The whole `bim` command line, with every command's action replaced by nothing: parsing checks the
// words, options and arguments exactly as `bim` would, without running anything.
class DryCli {
 public:
  DryCli() : cli_("bim", "bim") {
    AddAllCommands(cli_, ctx_);
    Disarm(&cli_);
  }
  // Names of the top-level commands.
  std::set<std::string> Commands() {
    std::set<std::string> names;
    for (CLI::App* sub : cli_.get_subcommands([](CLI::App*) { return true; })) names.insert(sub->get_name());
    return names;
  }
  // "" if argv parses as `bim` would parse it; otherwise the error `bim` would print. A bare command
  // (only command words, like "bim status") is a reference to the command: it is checked with --help.
  std::string Check(std::vector<std::string> argv) {
    std::vector<const char*> c;
    for (const auto& a : argv) c.push_back(a.c_str());
    if (Status s = CheckCommandWords(cli_, static_cast<int>(c.size()), c.data()); !s.ok()) return s.message();
    if (OnlyCommandWords(argv)) argv.push_back("--help");
    std::vector<std::string> reversed(argv.rbegin(), argv.rend() - 1);  // CLI11 takes them reversed, without argv[0]
    cli_.clear();
    try {
      cli_.parse(reversed);
    } catch (const CLI::CallForHelp&) {
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  }

 private:
  static void Disarm(CLI::App* app) {
    for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
      sub->callback([] {});
      Disarm(sub);
    }
  }
  bool OnlyCommandWords(const std::vector<std::string>& argv) {
    CLI::App* app = &cli_;
    for (size_t i = 1; i < argv.size(); ++i) {
      CLI::App* next = nullptr;
      for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; }))
        if (sub->check_name(argv[i])) next = sub;
      if (next == nullptr) return false;
      app = next;
    }
    return true;
  }

  CliContext ctx_;
  CLI::App cli_;
};

TEST(CliCommandsTest, AMistypedCommandNamesTheWordAndSuggestsTheClosest) {
  DryCli cli;
  EXPECT_EQ(cli.Check({"bim", "statu"}),
            "unknown command \"statu\" for \"bim\"; did you mean \"bim status\"? (`bim --help` lists the commands)");
  EXPECT_EQ(cli.Check({"bim", "--json", "deplyo", "."}),
            "unknown command \"deplyo\" for \"bim\"; did you mean \"bim deploy\"? (`bim --help` lists the commands)");
  EXPECT_EQ(cli.Check({"bim", "env", "lst", "hello"}),
            "unknown command \"lst\" for \"bim env\"; did you mean \"bim env list\"? (`bim env --help` lists the commands)");
  EXPECT_EQ(cli.Check({"bim", "frobnicate"}), "unknown command \"frobnicate\" for \"bim\" (`bim --help` lists the commands)");
  // Arguments of a command are not command words.
  EXPECT_EQ(cli.Check({"bim", "status", "statu"}), "");
  EXPECT_EQ(cli.Check({"bim", "deploy", "some-dir", "--app", "x"}), "");
}

// Every command line of these texts must parse.
void ExpectAllParse(const std::string& where, const std::string& text, size_t at_least) {
  DryCli cli;
  std::vector<DocCommand> commands = FindDocCommands(text, cli.Commands());
  EXPECT_GE(commands.size(), at_least) << where << " names fewer bim commands than expected";
  for (const DocCommand& c : commands) {
    std::string error = cli.Check(c.argv);
    EXPECT_EQ(error, "") << where << ": `" << c.line << "` does not work as written";
  }
}

TEST(CliCommandsTest, EveryCommandInTheReadmeParses) {
  ExpectAllParse("README.md", ReadText(std::string(BIM_SOURCE_DIR) + "/README.md"), 25);
}

TEST(CliCommandsTest, EveryCommandInGeneratedFilesParses) {
  char tmpl[] = "/tmp/bim-cli-commands-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { fs::remove_all(dir); }
  } cleanup{tmpl};
  const std::map<std::string, std::map<std::string, std::string>> stacks = {
      {"node", {{"package.json", R"({"scripts":{"start":"node s.js","test":"x"}})"}, {"yarn.lock", ""}}},
      {"python", {{"requirements.txt", "flask\n"}, {"app.py", ""}, {"tests", ""}}},
      {"go", {{"go.mod", "module x\n"}}},
      {"cmake", {{"CMakeLists.txt", "add_executable(s s.cpp)\n"}}},
      {"static", {{"index.html", "x"}}},
      {"unknown", {{"README.md", "x"}}}};
  for (const auto& [stack, files] : stacks) {
    for (const std::string ci : {"github", "drone"}) {
      SCOPED_TRACE(stack + " " + ci);
      std::string dir = std::string(tmpl) + "/" + stack + "-" + ci;
      fs::create_directories(dir);
      for (const auto& [name, text] : files) std::ofstream(dir + "/" + name) << text;
      InitOptions o;
      o.dir = dir;
      o.agent = "claude";
      o.ci = ci;
      InitReport r;
      ASSERT_TRUE(InitFolder(o, &r).ok());
      std::string generated;
      for (const auto& f : r.files)
        if (f.action != "skipped") generated += ReadText(dir + "/" + f.path) + "\n";
      // deploy.md and CLAUDE.md name deploy, status, releases, logs, rollback (twice), up, down, login.
      ExpectAllParse("files generated for " + stack + " with --ci " + ci, generated, 9);
    }
  }
}

TEST(CliCommandsTest, TheFinderSkipsProseAndFillsPlaceholders) {
  std::set<std::string> words = {"deploy", "rollback", "env", "mcp", "logs"};
  auto found = FindDocCommands(
      "bim is built from source.\n`bim rollback APP [--to RELEASE]` and `bim deploy --json`\n"
      "```\nbim env set APP KEY=VALUE... [--no-wait]   # note\nclaude mcp add bim -- bim mcp\n```\n"
      "      - bim deploy --json\n        run: bim --help >/dev/null\n",
      words);
  std::vector<std::string> lines;
  for (const auto& c : found) lines.push_back(c.line);
  EXPECT_EQ(lines, (std::vector<std::string>{"bim rollback APP [--to RELEASE]", "bim deploy --json",
                                             "bim env set APP KEY=VALUE... [--no-wait]", "bim mcp", "bim --help"}));
  EXPECT_EQ(found[0].argv, (std::vector<std::string>{"bim", "rollback", "hello", "--to", "v1"}));
  EXPECT_EQ(found[2].argv, (std::vector<std::string>{"bim", "env", "set", "hello", "A=1", "--no-wait"}));
}

}  // namespace
}  // namespace bim
