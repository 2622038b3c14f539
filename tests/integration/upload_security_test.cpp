// The crafted-tarball suite: each hostile build context is built here with libarchive and uploaded
// raw to a real bimd (small --max-upload-bytes and --max-upload-entries so the limits are cheap to
// hit). Each must be refused with the right 4xx and message, and leave apps, routes, the database
// and the upload spool exactly as they were.
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "integration/security_helpers.h"
#include "support/context_tar.h"

namespace bim::testing {
namespace {

using nlohmann::json;

using Entry = TarEntry;

const Entry kDockerfile{Entry::kFile, "Dockerfile", "FROM scratch\nCOPY . /\n"};

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class UploadSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Bimd({"--max-upload-bytes", std::to_string(kMaxUpload), "--max-upload-entries", "50",
                        "--read-timeout", "2"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { app_ = "u-" + UniqueSuffix(); }

  ApiAnswer Upload(const std::string& context) {
    return Api(server_->api_port(), "POST", "/v1/apps/" + app_ + "/deploy", server_->token(), "", {},
               {{"meta", json{{"app", app_}}.dump()}, {"context", context}});
  }

  // Uploads `context`, expects `status` with `message` in the error, and nothing changed.
  void ExpectRefused(const std::string& what, const std::string& context, long status, const std::string& message) {
    SCOPED_TRACE(what);
    Snapshot before;
    ASSERT_TRUE(Take(*server_, &before));
    ApiAnswer a = Upload(context);
    EXPECT_EQ(a.status, status) << a.error << " " << a.body;
    EXPECT_NE(a.Message().find(message), std::string::npos) << "want \"" << message << "\" in: " << a.body;
    Snapshot after;
    ASSERT_TRUE(Take(*server_, &after));
    EXPECT_EQ(before, after) << Describe(before) << "\n" << Describe(after);
    EXPECT_TRUE(after.uploads.empty()) << "the refused upload left files behind: " << Describe(after);
    // The database knows nothing of the app.
    EXPECT_EQ(server_->Bim({"status", app_}).exit_code, 4);
  }

  static constexpr int64_t kMaxUpload = 1 << 20;
  static Bimd* server_;
  std::string app_;
};

Bimd* UploadSecurityTest::server_ = nullptr;

TEST_F(UploadSecurityTest, PathTraversalIsRefused) {
  ExpectRefused("dotdot", Tar({kDockerfile, {Entry::kFile, "../evil", "x"}}), 400, "points outside the context");
  ExpectRefused("nested dotdot", Tar({kDockerfile, {Entry::kFile, "a/../../evil", "x"}}), 400,
                "points outside the context");
}

TEST_F(UploadSecurityTest, AbsolutePathIsRefused) {
  ExpectRefused("absolute", Tar({kDockerfile, {Entry::kFile, "/etc/cron.d/evil", "x"}}), 400,
                "points outside the context");
}

TEST_F(UploadSecurityTest, SymlinkEscapeIsRefused) {
  ExpectRefused("relative escape", Tar({kDockerfile, {Entry::kDir, "a", ""}, {Entry::kSymlink, "a/up", "../../etc"}}),
                400, "symlink \"a/up\" points outside");
  ExpectRefused("absolute target", Tar({kDockerfile, {Entry::kSymlink, "passwd", "/etc/passwd"}}), 400,
                "symlink \"passwd\" points outside");
}

TEST_F(UploadSecurityTest, HardlinkEscapeIsRefused) {
  ExpectRefused("hardlink", Tar({kDockerfile, {Entry::kHardlink, "h", "../../etc/shadow"}}), 400,
                "hardlink \"h\" points outside");
  ExpectRefused("absolute hardlink", Tar({kDockerfile, {Entry::kHardlink, "h", "/etc/shadow"}}), 400,
                "hardlink \"h\" points outside");
}

TEST_F(UploadSecurityTest, DeviceNodesAndFifosAreRefused) {
  ExpectRefused("char device", Tar({kDockerfile, {Entry::kCharDevice, "null", ""}}), 400, "is a device");
  ExpectRefused("fifo", Tar({kDockerfile, {Entry::kFifo, "pipe", ""}}), 400, "is a device");
}

TEST_F(UploadSecurityTest, OversizedUploadIsRefusedWhileStreaming) {
  // Announced too large: refused from Content-Length before anything is read.
  ExpectRefused("4 MiB", Tar({kDockerfile, {Entry::kFile, "big.bin", RandomBytes(4 << 20)}}), 413,
                "larger than " + std::to_string(kMaxUpload) + " bytes");
  // Within what Content-Length may announce (the meta part may take up to 1 MiB), so only the count
  // of context bytes while streaming can catch it.
  ExpectRefused("1.5 MiB", Tar({kDockerfile, {Entry::kFile, "big.bin", RandomBytes(3 << 19)}}), 413,
                "larger than " + std::to_string(kMaxUpload) + " bytes");
}

TEST_F(UploadSecurityTest, TooManyEntriesAreRefused) {
  std::vector<Entry> entries = {kDockerfile};
  for (int i = 0; i < 60; ++i) entries.push_back({Entry::kFile, "f" + std::to_string(i), "x"});
  ExpectRefused("60 files", Tar(entries), 413, "more than 50 files");
}

TEST_F(UploadSecurityTest, TruncatedAndCorruptStreamsAreRefused) {
  std::string good = Tar({kDockerfile, {Entry::kFile, "data.bin", RandomBytes(20000)}});
  ExpectRefused("truncated", good.substr(0, 5000), 400, "corrupt or truncated");
  std::string gz = Tar({kDockerfile, {Entry::kFile, "data.bin", RandomBytes(20000)}}, /*gzip=*/true);
  ExpectRefused("truncated gzip", gz.substr(0, gz.size() / 2), 400, "truncated");
  ExpectRefused("garbage", RandomBytes(4096), 400, "tar");
  ExpectRefused("no Dockerfile", Tar({{Entry::kFile, "README", "x"}}), 400, "no Dockerfile");
}

TEST_F(UploadSecurityTest, ValidContextWithInsideLinksIsAccepted) {
  // The same checks must not refuse what is legitimate: links that stay inside.
  std::string context = Tar({kDockerfile, {Entry::kDir, "a", ""}, {Entry::kFile, "a/f", "x"},
                             {Entry::kSymlink, "a/l", "f"}, {Entry::kSymlink, "top", "a/f"},
                             {Entry::kHardlink, "h", "a/f"}});
  ApiAnswer a = Upload(context);
  // The upload is accepted (the stream then reports the build; this Dockerfile copies files only).
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("\"event\":\"result\""), std::string::npos) << a.body;
  Snapshot now;
  ASSERT_TRUE(Take(*server_, &now));
  EXPECT_TRUE(now.uploads.empty()) << "the deployer removes the upload when done";
  server_->Bim({"destroy", app_, "--yes"});
}

TEST_F(UploadSecurityTest, SlowClientsAreDropped) {
  // Half a request line, then silence: bimd closes the connection after its read timeout (2 s here).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->api_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string partial = "GET /v1/apps HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), static_cast<ssize_t>(partial.size()));
  auto start = std::chrono::steady_clock::now();
  char buf[256];
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "bimd kept a silent client for 10 s";
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  // Either closed, or a 4xx; never served.
  if (n > 0) {
    EXPECT_TRUE(std::string(buf, 10).starts_with("HTTP/1.1 4")) << std::string(buf, static_cast<size_t>(n));
  }
  EXPECT_GE(waited, 1.5);
  EXPECT_LE(waited, 6.0);
  EXPECT_EQ(Api(server_->api_port(), "GET", "/healthz", "").status, 200);
}

}  // namespace
}  // namespace bim::testing
