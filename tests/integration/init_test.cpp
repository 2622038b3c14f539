// `bim init`, `bim up` and `bim down` on the real stack: the Dockerfile init writes for a C/C++ app
// builds and deploys through a real bimd (its compiler image made here from this host's packages, since
// no registry is reachable), and `bim up` runs the demo app locally with Docker Compose and `bim down`
// leaves nothing behind.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/file_util.h"
#include "cli/init_compose.h"
#include "docker/engine_http.h"
#include "support/bimd_harness.h"
#include "support/local_base_image.h"

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

// A loopback port nobody listens on right now (the kernel picks it).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// Docker objects of one kind carrying label key=value ("containers/json?all=1", "networks", "images/json?all=1").
size_t CountLabelled(const std::string& what, const std::string& key, const std::string& value) {
  std::string sep = what.find('?') == std::string::npos ? "?" : "&";
  json list = json::parse(EngineGet("/" + what + sep + "filters=" +
                                    engine::QueryEscape(json{{"label", {key + "=" + value}}}.dump())),
                          nullptr, false);
  return list.is_array() ? list.size() : 0;
}

class TempDir {
 public:
  explicit TempDir(const std::string& name) : path_((fs::temp_directory_path() / name).string()) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& rel, const std::string& text, bool append = false) const {
    std::ofstream(path_ + "/" + rel, std::ios::binary | (append ? std::ios::app : std::ios::trunc)) << text;
  }

 private:
  std::string path_;
};

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
  EXPECT_EQ(doc["written"].size(), 5u) << doc.dump();
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

TEST(InitIntegrationTest, UpServesTheDemoAppLocallyAndDownRemovesEverything) {
  const std::string app = "up-" + UniqueSuffix();
  TempDir folder(app);
  const int port = FreePort();
  ASSERT_GT(port, 0);
  fs::copy_file(BuildPath("examples/hello-server"), folder.path() + "/hello-server");
  folder.Write("Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCMD [\"/hello-server\"]\n");
  folder.Write("bim.toml", "app = \"" + app + "\"\nport = " + std::to_string(port) +
                               "\n[health]\npath = \"/healthz\"\ntimeout = \"20s\"\n");
  folder.Write(".env", "PORT=" + std::to_string(port) + "\nGREETING=\"from bim up\"\n");
  const std::string project = LocalProjectName(fs::absolute(folder.path()).lexically_normal().string(), app);
  const std::string key = "im.backend.bim.local.project";
  // Pass or fail, nothing of this project may survive the test.
  struct Down {
    std::string dir, key, project;
    ~Down() {
      if (CountLabelled("containers/json?all=1", key, project) + CountLabelled("networks", key, project) +
              CountLabelled("images/json?all=1", key, project) ==
          0)
        return;
      RunProcess({BuildPath("bim"), "down", dir}, {}, 120);
      RemoveLabelledImages(key, project);
    }
  } down_guard{folder.path(), key, project};

  long long t0 = MonotonicMillis();
  CommandResult up = RunProcess({BuildPath("bim"), "up", folder.path()}, {}, 300);
  long long up_ms = MonotonicMillis() - t0;
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  EXPECT_NE(up.out.find("running locally at " + url), std::string::npos) << up.out;
  EXPECT_NE(up.err.find("--project-name " + project), std::string::npos) << up.err;
  std::printf("[ figures  ] bim up (compose build + start + healthy) %lld ms\n", up_ms);

  HttpResult page = HttpGet(port, "/");
  EXPECT_EQ(page.status, 200) << page.error;
  EXPECT_EQ(page.body, "Hello from bim! from bim up\n");
  EXPECT_EQ(CountLabelled("containers/json?all=1", key, project), 1u);
  EXPECT_EQ(CountLabelled("networks", key, project), 1u);
  EXPECT_GE(CountLabelled("images/json?all=1", key, project), 1u);
  EXPECT_GE(CountLabelled("containers/json?all=1", "im.backend.bim.local", "true"), 1u);

  // `up` again is idempotent: same project, still serving.
  CommandResult again = RunProcess({BuildPath("bim"), "up", folder.path(), "--json"}, {}, 300);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json doc = again.Json();
  EXPECT_EQ(doc.value("url", ""), url);
  EXPECT_EQ(doc.value("project", ""), project);
  EXPECT_TRUE(doc.value("generated", false));
  EXPECT_EQ(CountLabelled("containers/json?all=1", key, project), 1u);

  t0 = MonotonicMillis();
  CommandResult down = RunProcess({BuildPath("bim"), "down", folder.path(), "--json"}, {}, 300);
  ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
  std::printf("[ figures  ] bim down %lld ms\n", MonotonicMillis() - t0);
  EXPECT_TRUE(down.Json().value("ok", false)) << down.out;
  EXPECT_EQ(CountLabelled("containers/json?all=1", key, project), 0u);
  EXPECT_EQ(CountLabelled("networks", key, project), 0u);
  EXPECT_EQ(CountLabelled("images/json?all=1", key, project), 0u);
  EXPECT_NE(HttpGet(port, "/", "", 1000).status, 200);
  EXPECT_FALSE(fs::exists(fs::path(doc.value("compose_file", "/nonexistent")).parent_path()));
}

TEST(InitIntegrationTest, UpWithoutDockerfileSaysToRunInit) {
  TempDir folder("bare-" + UniqueSuffix());
  folder.Write("index.html", "hi");
  CommandResult up = RunProcess({BuildPath("bim"), "up", folder.path()}, {}, 60);
  EXPECT_EQ(up.exit_code, 2) << up.err;
  EXPECT_NE(up.err.find("bim init"), std::string::npos) << up.err;
}

}  // namespace
}  // namespace bim::testing
