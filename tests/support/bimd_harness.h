// Test harness for the real stack: starts a real bimd (with its own data dir, API port and nginx port)
// against the real dockerd, runs the real `bim` binary against it, and removes everything it
// created when destroyed, pass or fail. Two harnesses (or two test runs) never collide: data dirs,
// ports and app names are unique.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/http_client.h"

namespace bim::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  nlohmann::json Json() const { return nlohmann::json::parse(out, nullptr, false); }
};

struct HttpResult {
  long status = 0;  // 0 when the connection failed
  std::string body;
  std::string error;
};

// Runs argv (no shell) with extra env vars and a timeout; captures output. stdin is /dev/null.
// `on_start` (if set) gets the child's pid once it runs, e.g. to send it a signal from another thread.
CommandResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                         int timeout_seconds = 300, const std::function<void(int pid)>& on_start = nullptr);

// Starts argv (argv[0] a path; no shell) in the background with this process's environment plus `env`,
// stdin from /dev/null and stdout+stderr appended to `log_path`. Returns its pid, 0 if it did not start.
int SpawnLogged(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                const std::string& log_path);

struct ProcessOptions {
  int timeout_seconds = 300;
  std::function<void(int pid)> on_start;
  std::string cwd;         // "" = this process's working directory
  std::string stdin_text;  // fed to the child's stdin, then EOF (at most 64 KiB); "" = /dev/null
};
// RunProcess with every option.
CommandResult RunProcessWith(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             const ProcessOptions& options);

// GET http://127.0.0.1:<port><path> with the given Host header (loopback only).
HttpResult HttpGet(int port, const std::string& path, const std::string& host = "", int timeout_ms = 5000);
// GET `url` (a test host's address or loopback), optionally with a Host header.
HttpResult HttpGetUrl(const std::string& url, int timeout_ms = 5000, const std::string& host = "");

// Polls `pred` every 50 ms until it holds (true) or `seconds` pass (then its last answer).
// The bound is time, not a count of tries: a slow predicate (one that runs `bim`) does not stretch it.
template <class Pred>
bool Eventually(Pred pred, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// A random lower-case hex suffix for unique names.
std::string UniqueSuffix();

// Path of a built binary (bim, bimd, examples/hello-server).
std::string BuildPath(const std::string& name);

// An app folder in a temp dir: Dockerfile (FROM scratch + hello-server), bim.toml and .env.
class AppFolder {
 public:
  // `app` is the name written in bim.toml; env lines are written to .env verbatim.
  AppFolder(const std::string& app, const std::string& dotenv, const std::string& health_timeout = "10s");
  ~AppFolder();
  const std::string& path() const { return dir_; }
  void Write(const std::string& relative, const std::string& contents) const;

 private:
  std::string dir_;
};

// How the harness and `bim` reach bimd's API. The default: plain HTTP on 127.0.0.1.
struct BimdApi {
  std::string listen_address = "127.0.0.1";  // the API's --listen host (the port is picked)
  std::string url_host;  // the host in BIM_SERVER ("" = listen_address), e.g. a name the test resolves
  bool tls = false;      // the API serves HTTPS (bimd --api-domain): BIM_SERVER is https://
  std::string ca_file;   // BIM_CA_CERT for the CLI ("" = none)
};

class Bimd {
 public:
  // Starts bimd and waits for it to answer (with `api.tls`: to accept connections, since the
  // certificate it serves may not be verifiable yet). Extra flags are appended to its command line.
  // Without "--watch" among them bimd runs with --watch 0 (no watch after the switch unless bim.toml asks).
  explicit Bimd(std::vector<std::string> extra_flags = {}, BimdApi api = {});
  ~Bimd();  // stops bimd and its nginx; removes every container and image of this instance

  // Runs `bim ARGS...` with BIM_SERVER/BIM_TOKEN for this server and HOME in the temp dir.
  CommandResult Bim(const std::vector<std::string>& args, int timeout_seconds = 300,
                    const std::function<void(int pid)>& on_start = nullptr) const;
  // The environment Bim() gives the CLI (BIM_SERVER, BIM_TOKEN, HOME), for RunProcess with more.
  std::map<std::string, std::string> CliEnv() const;
  // GET through this bimd's nginx for <app>.localhost.
  HttpResult Get(const std::string& app, const std::string& path = "/") const;
  // Where load for <app> goes: this bimd's nginx, Host <app>.localhost.
  HttpTarget Target(const std::string& app, const std::string& path = "/") const {
    HttpTarget t;
    t.port = http_port_;
    t.host = app + ".localhost";
    t.path = path;
    return t;
  }

  // Stops bimd with `signal` and waits for it to exit (nginx keeps running). Start() runs it again,
  // with `env` added to its environment (e.g. BIM_FAILPOINT).
  void Stop(int signal = 15);
  void Start(const std::map<std::string, std::string>& env = {});

  int api_port() const { return api_port_; }
  int http_port() const { return http_port_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& token() const { return token_; }
  const std::string& instance() const { return instance_; }
  std::string Log() const;  // bimd's stdout+stderr so far
  std::string NginxErrors() const;  // its nginx's error log so far
  int pid() const { return pid_; }

 private:
  void StartAndIdentify();  // Start(), then read the admin token and the instance id; throws on failure
  void Cleanup();
  std::vector<std::string> flags_;
  BimdApi api_;
  std::string data_dir_;
  std::string home_;
  int api_port_ = 0;
  int http_port_ = 0;
  int pid_ = 0;
  std::string token_;
  std::string instance_;
};

}  // namespace bim::testing
