// The `http` suite, part 3: a tenant's build and container that print one enormous line (30 MB, no
// newline) through a real bimd and dockerd. bimd passes each on cut at 16 KiB ("[line truncated]"), and
// its memory does not grow with the line.
#include <filesystem>

#include "http/http_suite.h"

namespace bim::testing {
namespace {

void ExpectLinesUnder(const std::string& text, size_t max, const std::string& what) {
  for (size_t start = 0, nl; start < text.size(); start = nl + 1) {
    nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    EXPECT_LT(nl - start, max) << what;
  }
}

TEST(HttpOutputLinesTest, LongBuildAndLogLinesAreCut) {
  Bimd server;
  std::string app = "l-" + UniqueSuffix();
  AppFolder folder(app, "");
  // A FROM scratch image with busybox (static) to print the lines and hello-server to serve.
  std::filesystem::copy_file("/bin/busybox", folder.path() + "/busybox");
  const std::string long_line = "/bin/busybox yes 0123456789abcdef | /bin/busybox head -c 30000000 | /bin/busybox tr -d '\\n'";
  folder.Write("Dockerfile",
               "FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello-server /hello-server\n"
               "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"" + long_line + "\"]\n"
               "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"" + long_line + "; echo; echo after-the-long-line; exec /hello-server\"]\n");
  long before = PeakRssKiB(server.pid());
  // The human output shows every build line bimd streamed ("    | <line>").
  CommandResult deploy = server.Bim({"deploy", folder.path()}, 240);
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out.substr(0, 2000) << deploy.err.substr(0, 2000);
  std::string build = deploy.out + deploy.err;
  EXPECT_NE(build.find("[line truncated]"), std::string::npos) << build.substr(0, 2000);
  ExpectLinesUnder(build, 17000, "a build output line longer than the cap reached the CLI");

  CommandResult logs;
  bool seen = Eventually([&] {
    logs = server.Bim({"logs", app, "--tail", "5"}, 60);
    return logs.out.find("after-the-long-line") != std::string::npos;
  }, 30);
  EXPECT_TRUE(seen) << logs.out.substr(0, 2000) << logs.err;
  EXPECT_NE(logs.out.find("[line truncated]"), std::string::npos) << logs.out.substr(0, 2000);
  ExpectLinesUnder(logs.out, 17000, "a log line longer than the cap reached the CLI");
  long growth = PeakRssKiB(server.pid()) - before;
  std::printf("[ lines    ] bimd peak RSS grew by %ld KiB while passing on two 30 MB lines\n", growth);
  EXPECT_LT(growth, 24 << 10) << "bimd buffered the long lines";
  server.Bim({"destroy", app, "--yes"});
}

}  // namespace
}  // namespace bim::testing
