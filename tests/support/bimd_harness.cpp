#include "support/bimd_harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "core/deploy_plan.h"
#include "docker/docker_client.h"
#include "docker/swarm_client.h"
#include "base/health_probe.h"
#include "base/random.h"
#include "support/local_base_image.h"
#include "store/store.h"

extern char** environ;

namespace bim::testing {

namespace fs = std::filesystem;

namespace {
// Whether something accepts TCP connections on address:port (IPv4).
bool Accepts(const std::string& address, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = inet_pton(AF_INET, address.c_str(), &addr.sin_addr) == 1 &&
            connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}
}  // namespace

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// posix_spawn of argv[0] (a path) with this process's environment plus `env`; returns its result.
int Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          const posix_spawn_file_actions_t* actions, pid_t* pid) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envs = MergedEnv(env);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  return posix_spawn(pid, args[0], actions, nullptr, args.data(), envp.data());
}

size_t Collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

}  // namespace

int SpawnLogged(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int rc = Spawn(argv, env, &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : 0;
}

std::string UniqueSuffix() { return RandomHex(4); }

std::string BuildPath(const std::string& name) { return std::string(BIM_BINARY_DIR) + "/" + name; }

CommandResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         int timeout_seconds, const std::function<void(int pid)>& on_start) {
  ProcessOptions options;
  options.timeout_seconds = timeout_seconds;
  options.on_start = on_start;
  return RunProcessWith(argv, env, options);
}

CommandResult RunProcessWith(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             const ProcessOptions& options) {
  CommandResult result;
  const int timeout_seconds = options.timeout_seconds;
  int out_pipe[2], err_pipe[2], in_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  if (!options.stdin_text.empty() && pipe2(in_pipe, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_pipe[0] >= 0) posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  else posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  pid_t pid = 0;
  int rc = Spawn(argv, env, &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (in_pipe[0] >= 0) {
    close(in_pipe[0]);
    // Small inputs only (a pipe holds 64 KiB): written whole, then closed so the child sees EOF.
    if (rc == 0 && write(in_pipe[1], options.stdin_text.data(), options.stdin_text.size()) < 0) result.err = "stdin: ";
    close(in_pipe[1]);
  }
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = std::string("spawn failed: ") + std::strerror(rc);
    return result;
  }
  if (options.on_start) options.on_start(pid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      result.err += "\n[harness: killed after " + std::to_string(timeout_seconds) + "s]";
      break;
    }
    if (poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

HttpResult HttpGet(int port, const std::string& path, const std::string& host, int timeout_ms) {
  return HttpGetUrl("http://127.0.0.1:" + std::to_string(port) + path, timeout_ms, host);
}

HttpResult HttpGetUrl(const std::string& url, int timeout_ms, const std::string& host) {
  HttpResult r;
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  if (!host.empty()) headers = curl_slist_append(headers, ("Host: " + host).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  else r.error = curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

AppFolder::AppFolder(const std::string& app, const std::string& dotenv, const std::string& health_timeout) {
  dir_ = (fs::temp_directory_path() / ("bim-app-" + UniqueSuffix())).string();
  fs::create_directories(dir_);
  fs::copy_file(BuildPath("examples/hello-server"), dir_ + "/hello-server");
  Write("Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCMD [\"/hello-server\"]\n");
  Write("bim.toml", "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/healthz\"\ntimeout = \"" +
                        health_timeout + "\"\n");
  Write(".env", dotenv);
}

AppFolder::~AppFolder() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void AppFolder::Write(const std::string& relative, const std::string& contents) const {
  std::ofstream(dir_ + "/" + relative, std::ios::binary | std::ios::trunc) << contents;
}

Bimd::Bimd(std::vector<std::string> extra_flags, BimdApi api) : flags_(std::move(extra_flags)), api_(std::move(api)) {
  data_dir_ = (fs::temp_directory_path() / ("bim-test-" + UniqueSuffix())).string();
  home_ = data_dir_ + "-home";
  fs::create_directories(home_);
  PickFreeLoopbackPort(&api_port_);
  PickFreeLoopbackPort(&http_port_);
  // A constructor that throws gets no destructor: a bimd that failed to start (or to report its
  // instance) may still have put firewall chains, networks or nginx on the host.
  try {
    StartAndIdentify();
  } catch (...) {
    Cleanup();
    throw;
  }
}

void Bimd::StartAndIdentify() {
  Start();
  token_ = ReadAll(data_dir_ + "/admin.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  if (api_.tls) {
    // The API's certificate may not be verifiable yet (self-signed until the CA issues one): read the
    // instance id where bimd keeps it.
    std::string key = ReadAll(data_dir_ + "/secret.key");
    std::unique_ptr<Store> store;
    if (Store::Open(data_dir_ + "/bim.db", key, &store).ok()) store->GetMeta("instance_id", &instance_);
    if (instance_.empty()) throw std::runtime_error("cannot read bimd's instance id from its database: " + Log());
    return;
  }
  CommandResult info = RunProcess({BuildPath("bim"), "server", "--json"}, CliEnv());
  nlohmann::json j = info.Json();
  if (j.is_object()) instance_ = j.value("instance", "");
  if (instance_.empty()) throw std::runtime_error("bimd did not report its instance id: " + info.err + Log());
}

void Bimd::Start(const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {BuildPath("bimd"), "--data-dir", data_dir_,
                                   "--listen", api_.listen_address + ":" + std::to_string(api_port_),
                                   "--domain", "localhost"};
  // Tests may serve apps elsewhere (e.g. their own loopback address on port 80); otherwise a free port.
  if (std::find(flags_.begin(), flags_.end(), "--http-listen") == flags_.end()) {
    argv.push_back("--http-listen");
    argv.push_back("127.0.0.1:" + std::to_string(http_port_));
  }
  // Tests may bring their own templates; otherwise the repo's.
  if (std::find(flags_.begin(), flags_.end(), "--templates") == flags_.end()) {
    argv.push_back("--templates");
    argv.push_back(std::string(BIM_SOURCE_DIR) + "/templates/nginx");
  }
  // The watch after the switch keeps a replaced release running for its window; only the tests
  // about it (which pass --watch, or set [health] watch) want that, the others see releases retired
  // at once as before.
  if (std::find(flags_.begin(), flags_.end(), "--watch") == flags_.end()) {
    argv.push_back("--watch");
    argv.push_back("0");
  }
  for (const auto& f : flags_) argv.push_back(f);
  fs::create_directories(data_dir_);
  pid_ = SpawnLogged(argv, env, data_dir_ + ".log");
  for (int i = 0; i < 300; ++i) {
    if (api_.tls ? Accepts(api_.listen_address, api_port_)
                 : HttpGetUrl("http://" + api_.listen_address + ":" + std::to_string(api_port_) + "/healthz", 500).status == 200)
      return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      throw std::runtime_error("bimd exited at start: " + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("bimd did not answer /healthz: " + Log());
}

void Bimd::Stop(int signal) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (i == 199) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  pid_ = 0;
}

std::string Bimd::Log() const { return ReadAll(data_dir_ + ".log"); }

std::string Bimd::NginxErrors() const { return ReadAll(data_dir_ + "/nginx/logs/error.log"); }

CommandResult Bimd::Bim(const std::vector<std::string>& args, int timeout_seconds,
                        const std::function<void(int pid)>& on_start) const {
  std::vector<std::string> argv = {BuildPath("bim")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, CliEnv(), timeout_seconds, on_start);
}

std::map<std::string, std::string> Bimd::CliEnv() const {
  std::map<std::string, std::string> env = {
      {"BIM_SERVER", std::string(api_.tls ? "https://" : "http://") +
                         (api_.url_host.empty() ? api_.listen_address : api_.url_host) + ":" + std::to_string(api_port_)},
      {"BIM_TOKEN", token_},
      {"HOME", home_},
      {"XDG_CACHE_HOME", home_ + "/.cache"}};  // the CLI's caches stay with this test's server
  if (!api_.ca_file.empty()) env["BIM_CA_CERT"] = api_.ca_file;
  return env;
}

HttpResult Bimd::Get(const std::string& app, const std::string& path) const {
  return HttpGet(http_port_, path, app + ".localhost");
}

Bimd::~Bimd() { Cleanup(); }

void Bimd::Cleanup() {
  Stop(SIGTERM);
  // bimd leaves nginx running on purpose (so restarts drop nothing); the test must stop it.
  std::string pid_text = ReadAll(data_dir_ + "/nginx/nginx.pid");
  int nginx = std::atoi(pid_text.c_str());
  if (nginx > 0 && kill(nginx, SIGQUIT) == 0) {
    for (int i = 0; i < 100 && kill(nginx, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kill(nginx, SIGKILL);
  }
  // On a cluster bimd also leaves its registry running (like nginx) and runs apps as Swarm services.
  int registry = std::atoi(ReadAll(data_dir_ + "/registry/registry.pid").c_str());
  if (registry > 0 && kill(registry, SIGTERM) == 0) {
    for (int i = 0; i < 100 && kill(registry, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kill(registry, SIGKILL);
  }
  auto socket_flag = std::find(flags_.begin(), flags_.end(), "--docker-socket");
  std::string socket = socket_flag != flags_.end() && socket_flag + 1 != flags_.end() ? *(socket_flag + 1)
                                                                                     : "/var/run/docker.sock";
  // Swarm services first (on a cluster), so their networks are free to go.
  if (!instance_.empty()) {
    SwarmClient swarm(socket);
    std::vector<ServiceInfo> services;
    if (swarm.ListServices({{labels::kInstance, instance_}}, &services).ok())
      for (const auto& s : services) swarm.RemoveService(s.id);
  }
  // What bimd put on the host besides containers and images: its apps' networks, its firewall rules
  // and build cgroups. `bimd --teardown` removes all of it (containers and images too).
  // Also when the instance id never reached the test: --teardown reads it from the database.
  if (!instance_.empty() || fs::exists(data_dir_ + "/bim.db"))
    RunProcess({BuildPath("bimd"), "--data-dir", data_dir_, "--templates", std::string(BIM_SOURCE_DIR) + "/templates/nginx",
                "--docker-socket", socket, "--teardown"}, {}, 120);
  if (!instance_.empty()) {
    DockerClient docker(socket);
    std::vector<ContainerInfo> containers;
    docker.ListContainers({{labels::kInstance, instance_}}, true, &containers);
    for (const auto& c : containers) docker.RemoveContainer(c.id, true);
    std::vector<ImageInfo> images;
    docker.ListImages({{labels::kInstance, instance_}}, &images);
    for (const auto& img : images) {
      for (const auto& tag : img.tags) docker.RemoveImage(tag, false);
      if (img.tags.empty()) docker.RemoveImage(img.id, false);
    }
    // Apps' named volumes (kept by `bim destroy` on purpose) and their private networks.
    std::vector<VolumeInfo> volumes;
    docker.ListVolumes({{labels::kInstance, instance_}}, false, &volumes);
    for (const auto& v : volumes) docker.RemoveVolume(v.name);
    std::string filter = nlohmann::json{{"label", {std::string(labels::kInstance) + "=" + instance_}}}.dump();
    char* escaped = curl_easy_escape(nullptr, filter.c_str(), static_cast<int>(filter.size()));
    nlohmann::json networks = nlohmann::json::parse(EngineGet(std::string("/networks?filters=") + escaped), nullptr, false);
    curl_free(escaped);
    if (networks.is_array())
      for (const auto& n : networks) docker.RemoveNetwork(n.value("Name", ""));
  }
  std::error_code ec;
  fs::remove_all(data_dir_, ec);
  fs::remove_all(home_, ec);
  fs::remove(data_dir_ + ".log", ec);
}

}  // namespace bim::testing
