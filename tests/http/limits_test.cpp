// The `http` suite, part 1: bimd's HTTP layer refuses what it must when the headers are in, before a
// byte of the body is read, against a real bimd. "Before reading" is shown by sending only the
// head: a server that waited for the body would not answer at all until its read timeout (5 s
// here), so an answer within a second proves the decision was made on the headers alone.
#include <signal.h>

#include <filesystem>

#include "http/http_suite.h"

namespace bim::testing {
namespace {

using nlohmann::json;

constexpr int64_t kMaxUpload = 256 << 10;

class HttpLimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Bimd({"--read-timeout", "5", "--header-timeout-ms", "3000", "--max-upload-bytes",
                        std::to_string(kMaxUpload)});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  // Sends `head` alone and expects `status` within 1 s, with `message` in the error.
  static void ExpectRefusedOnHead(const std::string& what, const std::string& head, int status,
                                  const std::string& message) {
    SCOPED_TRACE(what);
    RawAnswer a = RawExchange(server_->api_port(), head, 4000, /*stop_after_status=*/true);
    EXPECT_EQ(a.Status(), status) << a.bytes;
    EXPECT_GE(a.first_byte_ms, 0) << "no answer";
    EXPECT_LT(a.first_byte_ms, 1000) << "answered only after waiting for a body";
    EXPECT_NE(a.bytes.find(message), std::string::npos) << "want \"" << message << "\" in: " << a.bytes;
  }
  // The checks, run together by the tests at the end (each test costs a bimd start).
  static void OversizedContentLengthIsRefusedBeforeTheBody();
  static void TransferEncodingIsRefusedOutsideTheDeployRoute();
  static void AuthAndScopeAreCheckedBeforeTheBody();
  static void AClientStillSendingReadsItsRefusal();
  static void HeadersAreBoundedInSizeAndTime();
  static void KeepAliveAndPipelinedRequestsAreServedInOrder();
  static void ChunkedDeployOverTheLimitIsCutOffWhileStreaming();
  static int Port() { return server_->api_port(); }
  static const std::string& Admin() { return server_->token(); }
  static Bimd* server_;
};

Bimd* HttpLimitsTest::server_ = nullptr;

void HttpLimitsTest::OversizedContentLengthIsRefusedBeforeTheBody() {
  ExpectRefusedOnHead("token create", Head("POST /v1/tokens", Admin(), {"Content-Length: 100000000"}), 413,
                      "larger than 1048576 bytes");
  ExpectRefusedOnHead("env set", Head("POST /v1/apps/a/env", Admin(), {"Content-Length: 1048577"}), 413,
                      "larger than 1048576 bytes");
  // A GET with a body is held to the same bound.
  ExpectRefusedOnHead("get", Head("GET /v1/apps", Admin(), {"Content-Length: 99999999999"}), 413, "larger than");
  // The deploy route's own limit: the context plus its meta part and framing.
  ExpectRefusedOnHead("deploy", Head("POST /v1/apps/a/deploy", Admin(), {"Content-Type: multipart/form-data; boundary=b",
                                                                          "Content-Length: 100000000000"}),
                      413, "build context is larger than " + std::to_string(kMaxUpload) + " bytes");
}

void HttpLimitsTest::TransferEncodingIsRefusedOutsideTheDeployRoute() {
  for (std::string te : {"chunked", "CHUNKED", "Chunked", "gzip, chunked", "identity"}) {
    ExpectRefusedOnHead("env " + te, Head("POST /v1/apps/a/env", Admin(), {"Transfer-Encoding: " + te}), 411,
                        "Content-Length");
    ExpectRefusedOnHead("tokens " + te, Head("POST /v1/tokens", Admin(), {"transfer-encoding: " + te}), 411,
                        "Content-Length");
  }
  // Paths that only end in /deploy are not the deploy route: no route at all, refused on the head.
  for (std::string path : {"/v1/apps/a/env/deploy", "/healthz/deploy", "/v1/tokens/deploy", "/v1/apps/a/deploy/",
                                  "/deploy", "/v1/apps/a/b/deploy"}) {
    RawAnswer a = RawExchange(Port(), Head("POST " + path, Admin(), {"Transfer-Encoding: chunked"}), 4000, true);
    EXPECT_TRUE(a.Status() == 404 || a.Status() == 405 || a.Status() == 411) << path << ": " << a.bytes;
    EXPECT_LT(a.first_byte_ms, 1000) << path;
  }
  // The deploy route takes chunked bodies, but only chunked, and never with a Content-Length too.
  ExpectRefusedOnHead("deploy gzip", Head("POST /v1/apps/a/deploy", Admin(), {"Transfer-Encoding: gzip"}), 400,
                      "only Transfer-Encoding: chunked");
  ExpectRefusedOnHead("deploy both", Head("POST /v1/apps/a/deploy", Admin(), {"Transfer-Encoding: chunked", "Content-Length: 10"}),
                      400, "never both");
  ExpectRefusedOnHead("deploy both, length first",
                      Head("POST /v1/apps/a/deploy", Admin(), {"Content-Length: 10", "Transfer-Encoding: chunked"}), 400,
                      "never both");
  ExpectRefusedOnHead("two lengths", Head("POST /v1/tokens", Admin(), {"Content-Length: 2", "Content-Length: 3"}), 400,
                      "Content-Length");
}

void HttpLimitsTest::AuthAndScopeAreCheckedBeforeTheBody() {
  ExpectRefusedOnHead("no token", Head("POST /v1/apps/a/deploy", "", {"Content-Length: 200000"}), 401, "missing token");
  ExpectRefusedOnHead("bad token", Head("POST /v1/apps/a/deploy", "bim_nope", {"Transfer-Encoding: chunked"}), 401,
                      "invalid or revoked token");
  std::string scoped = CreateToken(*server_, "scoped-" + UniqueSuffix(), "a");
  ExpectRefusedOnHead("other app", Head("POST /v1/apps/b/deploy", scoped, {"Content-Length: 200000"}), 403,
                      "may only act on app");
  ExpectRefusedOnHead("bad app name", Head("POST /v1/apps/Bad_Name/deploy", Admin(), {"Content-Length: 200000"}), 400,
                      "app name");
}

void HttpLimitsTest::AClientStillSendingReadsItsRefusal() {
  // curl and bim send the body right after the head (no Expect), so a refusal on the head finds the
  // client still sending, and it reads the answer only when it next looks. bimd drops what it reads
  // (256 KiB at most) and must not reset the connection under the answer meanwhile: a client whose
  // send fails with a reset reports that instead of the refusal. Keep sending for 600 ms (bimd
  // lingers 2 s), then read.
  OpenConnection c(Port(), Head("POST /v1/tokens", Admin(), {"Content-Length: 16000000"}), /*wait_for_status=*/false);
  std::string piece(64 << 10, 'x');
  long sent = 0;
  bool reset = false;
  auto t0 = std::chrono::steady_clock::now();
  while (!reset && std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(600)) {
    long n = c.SendNow(piece);
    if (n < 0) reset = true;
    if (n > 0) sent += n;
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(reset) << "bimd reset the connection after " << sent << " body bytes, before the client read its answer";
  EXPECT_GT(sent, 256 << 10) << "bimd stopped reading before its drain budget";
  c.ReadAnswer(2000);
  EXPECT_EQ(c.status(), 413) << c.answer();
  EXPECT_NE(c.answer().find("larger than 1048576 bytes"), std::string::npos) << c.answer();
}

void HttpLimitsTest::ChunkedDeployOverTheLimitIsCutOffWhileStreaming() {
  // A chunked upload announces no size: bimd counts while it reads and stops at the limit.
  std::string app = "c-" + UniqueSuffix();
  std::string head = Head("POST /v1/apps/" + app + "/deploy", Admin(),
                          {"Content-Type: multipart/form-data; boundary=BB", "Transfer-Encoding: chunked"});
  FloodSpec spec;
  spec.port = Port();
  spec.connections = 1;
  spec.reconnect = false;
  spec.head = head;
  spec.chunked = true;
  spec.body_bytes = 64LL << 20;  // 64 MiB offered; the limit is 256 KiB
  // The filler is not even multipart: the size limit (or the framing check) must stop it early.
  long before = PeakRssKiB(server_->pid());
  Flood flood(spec);
  for (int i = 0; i < 100 && flood.open() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (int i = 0; i < 250 && flood.open() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  FloodReport report = flood.Stop();
  EXPECT_EQ(report.Answers(200), 0) << report.Describe();
  EXPECT_LT(report.body_bytes_sent, 32LL << 20) << "bimd kept reading: " << report.Describe();
  EXPECT_LT(PeakRssKiB(server_->pid()) - before, 16 << 10) << "bimd buffered the body";
  EXPECT_TRUE(std::filesystem::is_empty(server_->data_dir() + "/uploads")) << "the refused upload left a file";

  // A well-formed multipart body over the limit, chunked: 413 with the upload's own message.
  std::string body = "--BB\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{}\r\n--BB\r\n"
                     "Content-Disposition: form-data; name=\"context\"; filename=\"c.tar\"\r\n\r\n" +
                     std::string(kMaxUpload + 1000, 'x') + "\r\n--BB--\r\n";
  std::string chunked;
  for (size_t off = 0; off < body.size(); off += 4096) {
    std::string piece = body.substr(off, 4096);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    chunked += size + piece + "\r\n";
  }
  chunked += "0\r\n\r\n";
  RawAnswer a = RawExchange(Port(), head + chunked, 5000, true);
  EXPECT_EQ(a.Status(), 413) << a.bytes;
  EXPECT_NE(a.bytes.find("build context is larger than " + std::to_string(kMaxUpload)), std::string::npos) << a.bytes;
  EXPECT_TRUE(std::filesystem::is_empty(server_->data_dir() + "/uploads"));
}

void HttpLimitsTest::HeadersAreBoundedInSizeAndTime() {
  // Over 16 KiB of headers: 431, without waiting for the rest.
  RawAnswer big = RawExchange(Port(), Head("GET /v1/apps", Admin(), {"X-Pad: " + std::string(20000, 'a')}, false),
                              4000, true);
  EXPECT_EQ(big.Status(), 431) << big.bytes;
  EXPECT_NE(big.bytes.find("request headers are larger than 16384 bytes"), std::string::npos) << big.bytes;

  // A client that keeps trickling header bytes is cut off at the total header deadline (3 s here),
  // although it is never silent long enough for the read timeout (5 s).
  OpenConnection slow(Port(), "GET /v1/apps HTTP/1.1\r\n", /*wait_for_status=*/false);
  auto t0 = std::chrono::steady_clock::now();
  bool cut = false;
  for (int i = 0; i < 40 && !cut; ++i) {  // one byte every 200 ms for up to 8 s
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cut = !slow.Send("X");
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(cut) << "bimd kept a trickling client for 8 s";
  EXPECT_GE(waited, 2.5);
  EXPECT_LT(waited, 5.5);
}

void HttpLimitsTest::KeepAliveAndPipelinedRequestsAreServedInOrder() {
  std::string two = Head("GET /healthz", "") + Head("GET /v1/server", Admin(), {"Connection: close"});
  RawAnswer a = RawExchange(Port(), two, 4000);
  EXPECT_TRUE(a.closed);
  size_t first = a.bytes.find("\"service\":\"bimd\"");
  size_t second = a.bytes.find("\"instance\"");
  EXPECT_NE(first, std::string::npos) << a.bytes;
  EXPECT_NE(second, std::string::npos) << a.bytes;
  EXPECT_LT(first, second);
  // Unknown routes and methods: 404 and 405, as JSON errors.
  EXPECT_EQ(RawExchange(Port(), Head("GET /v2/nothing", Admin()), 4000, true).Status(), 404);
  RawAnswer put = RawExchange(Port(), Head("PUT /v1/apps", Admin(), {"Content-Length: 0"}), 4000, true);
  EXPECT_EQ(put.Status(), 405) << put.bytes;
  EXPECT_NE(put.bytes.find("\"code\":\"invalid_argument\""), std::string::npos) << put.bytes;
}

// The checks above share one bimd (a start costs seconds); a failure names its check.
TEST_F(HttpLimitsTest, RequestsAreRefusedOnTheirHeads) {
  const std::pair<const char*, void (*)()> checks[] = {
      {"oversized Content-Length", &OversizedContentLengthIsRefusedBeforeTheBody},
      {"Transfer-Encoding outside deploy", &TransferEncodingIsRefusedOutsideTheDeployRoute},
      {"auth and scope", &AuthAndScopeAreCheckedBeforeTheBody},
      {"refusal read by a client still sending", &AClientStillSendingReadsItsRefusal},
      {"header size and deadline", &HeadersAreBoundedInSizeAndTime},
      {"keep-alive and pipelining", &KeepAliveAndPipelinedRequestsAreServedInOrder},
      {"chunked deploy over the limit", &ChunkedDeployOverTheLimitIsCutOffWhileStreaming}};
  for (const auto& [name, check] : checks) {
    SCOPED_TRACE(name);
    check();
  }
}

TEST_F(HttpLimitsTest, StopEndsOpenStreamsPromptly) {
  // A deploy upload in progress (its body trickling) holds a stream thread; SIGTERM must still stop
  // bimd within a few seconds, its handler seeing the client as gone.
  std::string head = Head("POST /v1/apps/s/deploy", Admin(),
                          {"Content-Type: multipart/form-data; boundary=BB", "Content-Length: 100000"});
  OpenConnection upload(Port(), head + "--BB\r\n", /*wait_for_status=*/false);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = std::chrono::steady_clock::now();
  server_->Stop(SIGTERM);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 5.0) << server_->Log();
  EXPECT_TRUE(std::filesystem::is_empty(server_->data_dir() + "/uploads"));
  server_->Start();
  EXPECT_EQ(TimedRequest(Port(), "GET", "/healthz", "").status, 200);
}

}  // namespace
}  // namespace bim::testing
