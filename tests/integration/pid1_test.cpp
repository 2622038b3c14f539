// PID 1: bimd runs every container with Docker's init as PID 1, so a retiring release's SIGTERM stops
// even an app that installs no handler of its own (as PID 1 it would ignore SIGTERM and be SIGKILLed
// after the stop timeout, with no chance to finish its requests). The app here is busybox's httpd,
// which has no SIGTERM handler, in a FROM scratch image.
#include <gtest/gtest.h>

#include <filesystem>

#include "docker/docker_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(Pid1Test, SigtermStopsAnAppWithoutASignalHandler) {
  Bimd server({"--drain-grace-ms", "200"});
  const std::string app = "pid1-" + UniqueSuffix();
  AppFolder folder(app, "");
  fs::copy_file("/bin/busybox", folder.path() + "/busybox");
  folder.Write("index.html", "served by busybox\n");
  folder.Write("Dockerfile",
               "FROM scratch\nCOPY busybox /busybox\nCOPY index.html /www/index.html\n"
               "CMD [\"/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n");
  folder.Write("bim.toml", "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/index.html\"\ntimeout = \"20s\"\n");
  CommandResult deploy = server.Bim({"deploy", folder.path(), "--json"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err << server.Log();
  EXPECT_EQ(server.Get(app, "/index.html").body, "served by busybox\n");

  DockerClient docker;
  std::vector<ContainerInfo> found;
  ASSERT_TRUE(docker.ListContainers({{"im.backend.bim.app", app}}, false, &found).ok());
  ASSERT_EQ(found.size(), 1u);
  // The stop a retirement does: SIGTERM, SIGKILL after the timeout. 143 = ended by SIGTERM (through
  // the init); 137 would be the SIGKILL that PID 1's ignored SIGTERM leads to.
  ASSERT_TRUE(docker.StopContainer(found[0].id, 10).ok());
  ContainerInfo info;
  ASSERT_TRUE(docker.InspectContainer(found[0].id, &info).ok());
  EXPECT_EQ(info.exit_code, 143) << "SIGTERM did not reach the app";
}

}  // namespace
}  // namespace bim::testing
