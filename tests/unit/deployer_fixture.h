// The Deployer on fake seams (fakes.h) with the real SQLite store, shared by the Deployer's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "server/deployer.h"
#include "support/context_tar.h"
#include "unit/fakes.h"

namespace bim::fakes {

template <class Pred>
bool Eventually(Pred pred, int ms = 3000) {
  for (int i = 0; i < ms / 5; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

class DeployerTest : public ::testing::Test {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-deployer-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(Store::Open(dir_ + "/bim.db", std::string(32, 'k'), &store_).ok());
    options_.data_dir = dir_;
    options_.health_interval = std::chrono::milliseconds(1);
    options_.health_inspect_interval = std::chrono::milliseconds(5);
    options_.drain_settle = std::chrono::milliseconds(0);
    options_.drain_grace = std::chrono::milliseconds(5000);
    options_.watch_window = std::chrono::milliseconds(0);  // the watch tests turn it on
    options_.watch_check_interval = std::chrono::milliseconds(20);
    MakeDeployer();
  }
  void TearDown() override {
    deployer_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void MakeDeployer() {
    deployer_.reset();
    DeployerDeps deps;
    deps.store = store_.get();
    deps.images = &images_;
    deps.engine = &engine_;
    deps.router = &router_;
    deps.probe = [this](const Endpoint& at, const std::string&, std::chrono::milliseconds) {
      std::lock_guard<std::mutex> lock(probe_mu_);
      probed_.push_back(at.ToString());
      return unhealthy_ ? Status::Unavailable("answered 500") : Status::OK();
    };
    deployer_ = std::make_unique<Deployer>(options_, deps, "inst");
  }

  Status Deploy(const std::string& greeting, DeployOutcome* out = nullptr) {
    std::string context = dir_ + "/context-" + std::to_string(++uploads_) + ".tar";
    // A real context: the Deployer reads its Dockerfile for the images the build may use.
    std::ofstream(context, std::ios::binary) << testing::Tar({{testing::TarEntry::kFile, "Dockerfile", "FROM scratch\n"}});
    DeployRequest request;
    request.config.app = "shop";
    request.config.health.path = "/healthz";
    request.config.health.timeout = std::chrono::milliseconds(300);
    request.env = {{"GREETING", greeting}};
    request.context_path = context;
    request.actor = "test";
    DeployOutcome ignored;
    return deployer_->Deploy(request, [](const nlohmann::json&) {}, nullptr, out ? out : &ignored);
  }
  // Deploys a Compose app "shop" with `yaml` as its compose.yaml and `config` as its bim.toml.
  Status DeployCompose(const std::string& yaml, AppConfig config = AppConfig(), DeployOutcome* out = nullptr,
                       EnvList env = {}) {
    std::string context = dir_ + "/context-" + std::to_string(++uploads_) + ".tar";
    // A real context: the Deployer reads each service's Dockerfile for the images its build may use.
    std::ofstream(context, std::ios::binary) << testing::Tar({{testing::TarEntry::kFile, "Dockerfile", "FROM scratch\n"},
                                                              {testing::TarEntry::kFile, "Dockerfile.worker", "FROM scratch\n"}});
    DeployRequest request;
    request.config = config;
    request.config.app = "shop";
    request.config.health.timeout = std::chrono::milliseconds(300);
    request.compose.text = yaml;
    request.env = env;
    request.context_path = context;
    request.actor = "test";
    DeployOutcome ignored;
    return deployer_->Deploy(request, [](const nlohmann::json&) {}, nullptr, out ? out : &ignored);
  }
  std::string RouterLog() {
    std::lock_guard<std::mutex> lock(router_.mu);
    std::string all;
    for (const auto& line : router_.log) all += line + "\n";
    return all;
  }

  std::string dir_;
  int uploads_ = 0;
  ServerOptions options_;
  std::unique_ptr<Store> store_;
  FakeImages images_;
  FakeEngine engine_;
  FakeRouter router_;
  std::mutex probe_mu_;
  std::vector<std::string> probed_;
  bool unhealthy_ = false;
  std::unique_ptr<Deployer> deployer_;
};

}  // namespace bim::fakes
