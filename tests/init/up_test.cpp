// `bim up` / `bim down` on the real dockerd: up is production's twin (bim.toml's [build.args], the
// Dockerfile, an optional .env, Docker's init as PID 1) published on 127.0.0.1 only; down removes
// everything up made and is quiet when there is nothing (also after a failed up). Every object carries
// the project label and is removed pass or fail.
#include <gtest/gtest.h>

#include <filesystem>

#include "base/file_util.h"
#include "base/health_probe.h"
#include "cli/local_run.h"
#include "docker/engine_http.h"
#include "support/bimd_harness.h"
#include "support/local_base_image.h"
#include "support/scratch.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Pass or fail, nothing of `project` may survive the test.
struct DownGuard {
  std::string dir, project;
  ~DownGuard() {
    if (CountLabelled("containers/json?all=1", kLocalProjectLabel, project) +
            CountLabelled("images/json?all=1", kLocalProjectLabel, project) ==
        0)
      return;
    RunProcess({BuildPath("bim"), "down", dir}, {}, 120);
    RemoveLabelledImages(kLocalProjectLabel, project);
  }
};

// The demo server in a FROM scratch image whose binary comes through a build arg: with bim.toml's
// [build.args] the build works, without them it fails (as a base image set there would).
void WriteApp(const TempDir& folder, const std::string& app, int port, bool with_build_args) {
  fs::copy_file(BuildPath("examples/hello-server"), folder.path() + "/hello-server",
                fs::copy_options::overwrite_existing);
  folder.Write("Dockerfile", "FROM scratch\nARG SERVER_BINARY=not-set-in-bim-toml\nCOPY ${SERVER_BINARY} /hello-server\n"
                             "ENV PORT=" + std::to_string(port) + "\nCMD [\"/hello-server\"]\n");
  folder.Write("bim.toml", "app = \"" + app + "\"\nport = " + std::to_string(port) +
                               "\n[health]\npath = \"/healthz\"\ntimeout = \"20s\"\n" +
                               (with_build_args ? "[build.args]\nSERVER_BINARY = \"hello-server\"\n" : ""));
}

TEST(UpTest, UpIsProductionsTwinAndDownRemovesEverything) {
  const std::string app = "up-" + UniqueSuffix();
  TempDir folder(app);
  int port = 0;
  ASSERT_TRUE(PickFreeLoopbackPort(&port).ok());
  WriteApp(folder, app, port, /*with_build_args=*/true);
  // No .env at all: like `bim deploy`, `bim up` runs without one.
  const std::string project = LocalProjectName(fs::absolute(folder.path()).lexically_normal().string(), app);
  DownGuard guard{folder.path(), project};

  long long t0 = MonotonicMillis();
  CommandResult up = RunProcess({BuildPath("bim"), "up", folder.path()}, {}, 300);
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  std::printf("[ figures  ] bim up (build + start + healthy) %lld ms\n", MonotonicMillis() - t0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  EXPECT_NE(up.out.find("running locally at " + url), std::string::npos) << up.out;
  EXPECT_NE(up.err.find("1 build args from bim.toml"), std::string::npos) << up.err;
  HttpResult page = HttpGet(port, "/");
  EXPECT_EQ(page.status, 200) << page.error;
  EXPECT_EQ(page.body, "Hello from bim! \n");

  // One container, published on loopback only, with Docker's init as PID 1, and its image.
  json containers = json::parse(EngineGet("/containers/json?filters=" +
                                          engine::QueryEscape(json{{"label", {std::string(kLocalProjectLabel) + "=" + project}}}.dump())),
                                nullptr, false);
  ASSERT_TRUE(containers.is_array() && containers.size() == 1) << containers.dump();
  json inspect = json::parse(EngineGet("/containers/" + containers[0].value("Id", "") + "/json"), nullptr, false);
  EXPECT_TRUE(inspect["HostConfig"].value("Init", false)) << "Docker's init runs as PID 1";
  EXPECT_EQ(inspect["HostConfig"]["PortBindings"].begin().value()[0].value("HostIp", ""), "127.0.0.1");
  EXPECT_GE(CountLabelled("images/json?all=1", kLocalProjectLabel, project), 1u);

  // A .env, when there is one, reaches the app the way bimd passes it (same parser: quotes, export).
  folder.Write(".env", "export GREETING=\"from .env\"\n");
  CommandResult again = RunProcess({BuildPath("bim"), "up", folder.path(), "--json"}, {}, 300);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json doc = again.Json();
  EXPECT_EQ(doc.value("url", ""), url);
  EXPECT_EQ(doc.value("project", ""), project);
  EXPECT_EQ(doc.value("runner", ""), "bim");
  EXPECT_EQ(HttpGet(port, "/").body, "Hello from bim! from .env\n");
  EXPECT_EQ(CountLabelled("containers/json?all=1", kLocalProjectLabel, project), 1u) << "up again replaces, never adds";

  t0 = MonotonicMillis();
  CommandResult down = RunProcess({BuildPath("bim"), "down", folder.path(), "--json"}, {}, 300);
  ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
  std::printf("[ figures  ] bim down %lld ms\n", MonotonicMillis() - t0);
  EXPECT_TRUE(down.Json().value("ok", false)) << down.out;
  EXPECT_EQ(down.Json()["removed"].value("containers", 0), 1);
  EXPECT_EQ(CountLabelled("containers/json?all=1", kLocalProjectLabel, project), 0u);
  EXPECT_EQ(CountLabelled("images/json?all=1", kLocalProjectLabel, project), 0u);
  EXPECT_NE(HttpGet(port, "/", "", 1000).status, 200);

  // Down again: nothing there, said plainly, exit 0, no Docker error text.
  down = RunProcess({BuildPath("bim"), "down", folder.path()}, {}, 60);
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_NE(down.out.find("Nothing of " + app + " was running here"), std::string::npos) << down.out;
  EXPECT_EQ(down.err, "");
}

TEST(UpTest, DownAfterAFailedUpIsQuiet) {
  const std::string app = "upfail-" + UniqueSuffix();
  TempDir folder(app);
  int port = 0;
  ASSERT_TRUE(PickFreeLoopbackPort(&port).ok());
  WriteApp(folder, app, port, /*with_build_args=*/false);  // the Dockerfile's default names no file
  const std::string project = LocalProjectName(fs::absolute(folder.path()).lexically_normal().string(), app);
  DownGuard guard{folder.path(), project};

  CommandResult up = RunProcess({BuildPath("bim"), "up", folder.path()}, {}, 300);
  EXPECT_EQ(up.exit_code, 1) << up.out << up.err;
  EXPECT_NE(up.err.find("error: build failed"), std::string::npos) << up.err;
  EXPECT_NE(up.err.find("not-set-in-bim-toml"), std::string::npos) << "Docker's reason is shown: " << up.err;

  CommandResult down = RunProcess({BuildPath("bim"), "down", folder.path()}, {}, 60);
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(down.err, "") << "no Docker 'not found' noise";
  EXPECT_EQ(CountLabelled("containers/json?all=1", kLocalProjectLabel, project), 0u);
}

// What docker-compose labels its objects with.
constexpr const char* kComposeProject = "com.docker.compose.project";

size_t ComposeObjects(const std::string& project) {
  return CountLabelled("containers/json?all=1", kComposeProject, project) +
         CountLabelled("networks", kComposeProject, project);
}

// Pass or fail, nothing docker-compose made for `project` may survive the test.
struct ComposeDownGuard {
  std::string dir, project;
  ~ComposeDownGuard() {
    if (ComposeObjects(project) == 0) return;
    RunProcess({"docker-compose", "--project-name", project, "--file", dir + "/compose.yaml", "down", "--rmi", "local",
                "--volumes", "--remove-orphans"},
               {}, 120);
  }
};

// A folder with its own compose file (two services built from one FROM scratch Dockerfile) is run
// with Docker Compose under bim's project name; `bim down` removes its containers, network and the
// images it built.
TEST(UpTest, UpRunsTheFoldersOwnComposeFileAndDownRemovesWhatItMade) {
  const std::string app = "upc-" + UniqueSuffix();
  TempDir folder(app);
  int port = 0;
  ASSERT_TRUE(PickFreeLoopbackPort(&port).ok());
  fs::copy_file(BuildPath("examples/hello-server"), folder.path() + "/hello-server",
                fs::copy_options::overwrite_existing);
  folder.Write("Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nENV PORT=8080\nCMD [\"/hello-server\"]\n");
  folder.Write("compose.yaml", "services:\n"
                               "  web:\n"
                               "    build: .\n"
                               "    environment:\n"
                               "      GREETING: from compose\n"
                               "    ports:\n"
                               "      - \"127.0.0.1:" + std::to_string(port) + ":8080\"\n"
                               "  worker:\n"
                               "    build: .\n"
                               "    environment:\n"
                               "      PORT: \"9090\"\n");
  folder.Write("bim.toml", "app = \"" + app + "\"\nport = " + std::to_string(port) +
                               "\n[health]\npath = \"/healthz\"\ntimeout = \"20s\"\n");
  const std::string project = LocalProjectName(fs::absolute(folder.path()).lexically_normal().string(), app);
  ComposeDownGuard guard{folder.path(), project};

  long long t0 = MonotonicMillis();
  CommandResult up = RunProcess({BuildPath("bim"), "up", folder.path(), "--json"}, {}, 300);
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  std::printf("[ figures  ] bim up with a compose file (2 services) %lld ms\n", MonotonicMillis() - t0);
  json doc = up.Json();
  EXPECT_EQ(doc.value("runner", ""), "compose") << up.out;
  EXPECT_EQ(doc.value("project", ""), project);
  EXPECT_EQ(doc.value("url", ""), "http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(HttpGet(port, "/").body, "Hello from bim! from compose\n");
  EXPECT_EQ(CountLabelled("containers/json", kComposeProject, project), 2u) << "web and worker run";

  CommandResult down = RunProcess({BuildPath("bim"), "down", folder.path()}, {}, 300);
  ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
  EXPECT_NE(down.out.find("Stopped " + app), std::string::npos) << down.out;
  EXPECT_EQ(ComposeObjects(project), 0u) << "containers and network removed";
  json images = json::parse(EngineGet("/images/json"), nullptr, false);
  for (const auto& image : images)
    for (const auto& tag : image.value("RepoTags", json::array()))
      EXPECT_EQ(tag.get<std::string>().rfind(project, 0), std::string::npos) << "a built image is left: " << tag;
  EXPECT_NE(HttpGet(port, "/", "", 1000).status, 200);
}

TEST(UpTest, UpWithoutDockerfileSaysToRunInit) {
  TempDir folder("bare-" + UniqueSuffix());
  folder.Write("index.html", "hi");
  CommandResult up = RunProcess({BuildPath("bim"), "up", folder.path()}, {}, 60);
  EXPECT_EQ(up.exit_code, 2) << up.err;
  EXPECT_NE(up.err.find("bim init"), std::string::npos) << up.err;
}

}  // namespace
}  // namespace bim::testing
