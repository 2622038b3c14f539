// libFuzzer target: bimd's HTTP request handling, end to end. Each input is sent as raw bytes over a
// loopback TCP connection to a real ApiServer (the Beast-based HTTP layer: header and body limits checked before reading, the
// route table, bearer-token auth, JSON bodies, the multipart deploy upload with its streaming size
// limit and tar checks, tokens and audit). The server has a real Store in a temp dir but no Docker
// (a socket path that does not exist) and a CommandRunner that refuses to run anything, so an input
// can reach every handler without touching the host.
//
// Invariants checked on every input: the server never crashes (ASan/UBSan), answers or closes, and
// no response ever carries the admin token's value.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "base/command_runner.h"
#include "docker/local_engine.h"
#include "proxy/nginx_router.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/deployer.h"
#include "store/store.h"

namespace {

using namespace bim;

// The token fuzzing seeds use ("Authorization: Bearer <this>"); only its hash is stored.
constexpr const char* kFuzzToken = "bim_0000000000000000000000000000000000000000000000000000000000000000";

class RefusingRunner : public CommandRunner {
 public:
  Status Run(const std::vector<std::string>&, std::string* output) override {
    output->clear();
    return Status::Unavailable("commands are disabled in the fuzzer");
  }
  Status RunAttached(const std::vector<std::string>&, bool) override {
    return Status::Unavailable("commands are disabled in the fuzzer");
  }
};

struct Harness {
  std::string dir;
  ServerOptions options;
  std::unique_ptr<Store> store;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<DockerClient> docker;
  RefusingRunner runner;
  std::unique_ptr<NginxRouter> router;
  std::unique_ptr<LocalEngine> engine;
  std::unique_ptr<Deployer> deployer;
  std::unique_ptr<ApiServer> api;
  int port = 0;

  Harness() {
    if (sodium_init() < 0) std::abort();
    char tmpl[] = "/tmp/bim-fuzz-http-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    dir = tmpl;
    options.data_dir = dir;
    options.listen = "127.0.0.1:0";
    options.docker_socket = dir + "/no-docker.sock";
    options.max_upload_bytes = 1 << 20;
    options.context_limits.max_entries = 100;
    options.http.read_timeout_seconds = 1;
    if (!Store::Open(dir + "/bim.db", std::string(32, 'k'), &store).ok()) std::abort();
    store->SetMeta("admin_token_sha256", HashToken(kFuzzToken));
    store->SetMeta("instance_id", "fuzz");
    auth = std::make_unique<Authenticator>(store.get());
    docker = std::make_unique<DockerClient>(options.docker_socket);
    NginxOptions nginx_options;
    nginx_options.nginx_binary = dir + "/no-nginx";
    nginx_options.prefix = dir + "/nginx";
    nginx_options.template_dir = std::string(BIM_SOURCE_DIR) + "/templates/nginx";
    router = std::make_unique<NginxRouter>(nginx_options, &runner);
    engine = std::make_unique<LocalEngine>(docker.get());
    DeployerDeps deps;
    deps.store = store.get();
    deps.images = docker.get();
    deps.engine = engine.get();
    deps.router = router.get();
    deployer = std::make_unique<Deployer>(options, deps, "fuzz");
    api = std::make_unique<ApiServer>(options, deployer.get(), store.get(), auth.get());
    if (!api->Bind(&port).ok()) std::abort();
    std::thread([this] { api->Serve(); }).detach();
    // bimd's per-request log line goes to stderr; run.sh passes -close_fd_mask=2 to quiet it
    // (libFuzzer and the sanitizers keep their own copy of stderr for reports).
  }
};

Harness& Get() {
  static Harness* h = new Harness();  // lives for the process; libFuzzer exits without unwinding
  // libFuzzer ends with exit(), which runs atexit handlers but no destructors: remove the temp dir
  // there, so repeated runs leave nothing in /tmp.
  static bool registered = [] {
    std::atexit([] { std::filesystem::remove_all(Get().dir); });
    return true;
  }();
  (void)registered;
  return *h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = Get();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(h.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Tens of thousands of short connections a run can briefly exhaust loopback ephemeral ports
  // (EADDRNOTAVAIL) or meet a signal; retry those. A refused connection means the server is gone.
  int rc = -1;
  for (int attempt = 0; attempt < 500; ++attempt) {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc == 0 || (errno != EADDRNOTAVAIL && errno != EINTR && errno != EAGAIN)) break;
    usleep(10000);
  }
  if (rc != 0) {
    std::fprintf(stderr, "fuzz_http: connect to bimd failed: %s\n", std::strerror(errno));
    std::abort();
  }
  for (size_t off = 0; off < size;) {
    ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early (e.g. 413): that is fine
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);  // EOF ends the request, so the server never waits for its read timeout
  std::string response;
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, 5000);
    if (ready < 0 && errno == EINTR) continue;  // libFuzzer's SIGALRM timer, not the server
    if (ready <= 0) std::abort();  // no answer and no close within 5 s: a hang
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // A token value in an answer is a leak, unless the input itself carried it somewhere other than
  // the Authorization header (an error message may quote a bad app name back, and that is the
  // client's own text).
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto count = [&](std::string_view needle) {
    size_t n = 0;
    for (size_t pos = input.find(needle); pos != std::string_view::npos; pos = input.find(needle, pos + 1)) ++n;
    return n;
  };
  bool only_as_credential = count(kFuzzToken) == count(std::string("Bearer ") + kFuzzToken);
  if (only_as_credential && response.find(kFuzzToken) != std::string::npos) std::abort();
  return 0;
}
