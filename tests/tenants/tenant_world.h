// The tenants suite's world: one real bimd (with its nginx, on the real dockerd), two apps with a token
// each, and the hostile probe app (tests/apps/tenant_probe.cpp) they deploy. App "b" is the victim: it
// holds secrets (an env value, a file baked into its image) that nothing app "a" can read may contain.
// Everything is removed when the world is destroyed, pass or fail (the Bimd harness runs `bimd
// --teardown`: containers, images, networks, firewall rules).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "docker/docker_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {

// An app folder holding the probe binary as "probe", a Dockerfile, bim.toml and .env.
class ProbeFolder {
 public:
  // `with_probe` false leaves the binary out: for Dockerfiles that must be refused before any build.
  ProbeFolder(const std::string& app, const std::string& dockerfile, const std::string& toml_extra = "",
              const std::string& dotenv = "", bool with_probe = true)
      : dir_((std::filesystem::temp_directory_path() / ("bim-tenant-" + UniqueSuffix())).string()) {
    std::filesystem::create_directories(dir_);
    if (with_probe) std::filesystem::copy_file(BuildPath("examples/tenant-probe"), dir_ + "/probe");
    Write("Dockerfile", dockerfile);
    Write("bim.toml", "app = \"" + app + "\"\nport = 8080\n[health]\npath = \"/healthz\"\ntimeout = \"15s\"\n" + toml_extra);
    if (!dotenv.empty()) Write(".env", dotenv);
  }
  ~ProbeFolder() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ProbeFolder(const ProbeFolder&) = delete;
  ProbeFolder& operator=(const ProbeFolder&) = delete;
  void Write(const std::string& relative, const std::string& contents) const {
    std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + relative).parent_path());
    std::ofstream(dir_ + "/" + relative, std::ios::binary | std::ios::trunc) << contents;
  }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

// The CLI's one-line error ("error: ...") out of its stderr, "" if none.
inline std::string ErrorLine(const std::string& err) {
  size_t at = err.rfind("error: ");
  return at == std::string::npos ? "" : err.substr(at, err.find('\n', at) - at);
}

// The probe as an app: copied in, run as the image's command.
inline const char* kProbeDockerfile = "FROM scratch\nCOPY probe /probe\nCMD [\"/probe\"]\n";

class TenantWorld {
 public:
  // Starts bimd with `flags`; names apps a and b uniquely; makes one token per app.
  explicit TenantWorld(std::vector<std::string> flags = {})
      : server_(std::move(flags)), a_("ta-" + UniqueSuffix()), b_("tb-" + UniqueSuffix()),
        secret_env_("bsecret" + UniqueSuffix() + UniqueSuffix()), secret_file_("bfile" + UniqueSuffix() + UniqueSuffix()) {
    token_a_ = CreateToken("tok-a", a_, false);
    token_b_ = CreateToken("tok-b", b_, false);
  }

  const Bimd& server() const { return server_; }
  // Stops bimd (SIGTERM) and starts it again on the same data dir; apps and nginx keep running.
  void RestartServer() {
    server_.Stop();
    server_.Start();
  }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }
  const std::string& token_a() const { return token_a_; }
  const std::string& token_b() const { return token_b_; }
  // b's secrets: an env value and a file's contents baked into its image.
  const std::string& secret_env() const { return secret_env_; }
  const std::string& secret_file() const { return secret_file_; }

  // `bim ARGS` with `token` (the harness's Bim() uses the admin token).
  CommandResult BimAs(const std::string& token, const std::vector<std::string>& args, int timeout = 180) const {
    std::vector<std::string> argv = {BuildPath("bim")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, {{"BIM_SERVER", "http://127.0.0.1:" + std::to_string(server_.api_port())},
                             {"BIM_TOKEN", token},
                             {"HOME", server_.data_dir() + "-home"}},
                      timeout);
  }

  // A token limited to `app`; its value.
  std::string CreateToken(const std::string& name, const std::string& app, bool read_secrets) const {
    std::vector<std::string> args = {"token", "create", "--name", name + "-" + UniqueSuffix(), "--app", app, "--json"};
    if (read_secrets) args.push_back("--read-secrets");
    CommandResult r = server_.Bim(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = r.Json();
    return j.is_object() ? j.value("token", "") : "";
  }

  // Deploys b, the victim: the probe plus a secret file in its image and a secret env value.
  void DeployVictim() {
    ProbeFolder b(b_, "FROM scratch\nCOPY probe /probe\nCOPY b-secret.txt /b-secret.txt\nCMD [\"/probe\"]\n", "",
                  "SECRET_B=" + secret_env_ + "\n");
    b.Write("b-secret.txt", secret_file_ + "\n");
    CommandResult r = BimAs(token_b_, {"deploy", b.path()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Deploys `folder` as app a with a's token; the CLI's result.
  CommandResult DeployA(const ProbeFolder& folder, int timeout = 180) {
    CommandResult r = BimAs(token_a_, {"deploy", folder.path()}, timeout);
    a_outputs_.push_back(r.out + r.err);
    return r;
  }

  // GET <path> of `app` through bimd's nginx.
  HttpResult Get(const std::string& app, const std::string& path) const { return server_.Get(app, path); }

  // The live container of `app`, as Docker describes it.
  ContainerInfo LiveContainer(const std::string& app) const {
    DockerClient docker;
    std::vector<ContainerInfo> list;
    docker.ListContainers({{"im.backend.bim.instance", server_.instance()}, {"im.backend.bim.app", app}}, false, &list);
    ContainerInfo info;
    if (!list.empty()) docker.InspectContainer(list.front().id, &info);
    return info;
  }

  // Everything a's deploys printed (checked for b's secrets at the end).
  const std::vector<std::string>& a_outputs() const { return a_outputs_; }

 private:
  Bimd server_;
  std::string a_, b_;
  std::string secret_env_, secret_file_;
  std::string token_a_, token_b_;
  std::vector<std::string> a_outputs_;
};

}  // namespace bim::testing
