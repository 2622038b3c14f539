// The deploy slice end to end on the real stack: real bimd, real dockerd, real nginx, real SQLite,
// driven through the real `bim` CLI exactly as a user would.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "docker/docker_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {
namespace {

using nlohmann::json;

class DeployTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Bimd({"--drain-grace-ms", "1000"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { app_ = "t-" + UniqueSuffix(); }

  CommandResult Deploy(const AppFolder& folder, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"deploy", folder.path()};
    args.insert(args.end(), extra.begin(), extra.end());
    return server_->Bim(args);
  }

  static Bimd* server_;
  std::string app_;
};

Bimd* DeployTest::server_ = nullptr;


TEST_F(DeployTest, DeployServesTheAppThroughNginxWithItsDotenv) {
  AppFolder folder(app_, "# a comment\nexport GREETING=\"from the .env file\"\n");
  CommandResult r = Deploy(folder);
  ASSERT_EQ(r.exit_code, 0) << r.err << server_->Log();
  EXPECT_NE(r.out.find(app_ + " v1 is live at http://" + app_ + ".localhost:"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(": FROM scratch"), std::string::npos) << "build output is streamed: " << r.err;

  HttpResult page = server_->Get(app_);
  EXPECT_EQ(page.status, 200) << page.error;
  EXPECT_EQ(page.body, "Hello from bim! from the .env file\n");
  // Unknown hosts get nginx's default 404, not some app.
  EXPECT_EQ(server_->Get("no-such-app-" + UniqueSuffix()).status, 404);
}

TEST_F(DeployTest, JsonOutputIsOneDocumentWithTheUrl) {
  AppFolder folder(app_, "GREETING=json\n");
  CommandResult r = Deploy(folder, {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = r.Json();
  ASSERT_TRUE(doc.is_object()) << "stdout must be exactly one JSON document: " << r.out;
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["release"], "v1");
  EXPECT_EQ(doc["url"], "http://" + app_ + ".localhost:" + std::to_string(server_->http_port()) + "/");
  EXPECT_EQ(doc["details"]["status"], "live");
  EXPECT_EQ(r.err, "") << "JSON mode prints no progress";
}

TEST_F(DeployTest, RedeployServesTheNewVersionAndRetiresTheOld) {
  AppFolder folder(app_, "GREETING=one\n");
  ASSERT_EQ(Deploy(folder).exit_code, 0);
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! one\n");
  folder.Write(".env", "GREETING=two\n");
  CommandResult r = Deploy(folder);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! two\n");

  json releases = server_->Bim({"releases", app_, "--json"}).Json();
  ASSERT_EQ(releases["releases"].size(), 2u);
  EXPECT_EQ(releases["releases"][0]["release"], "v2");
  EXPECT_EQ(releases["releases"][0]["status"], "live");
  EXPECT_EQ(releases["releases"][1]["status"], "retired");
  EXPECT_NE(releases["releases"][0]["env_digest"], releases["releases"][1]["env_digest"]);

  // The old container is stopped and removed once nginx's old workers drained.
  DockerClient docker;
  EXPECT_TRUE(Eventually([&] {
    std::vector<ContainerInfo> found;
    return docker.ListContainers({{"im.backend.bim.app", app_}}, true, &found).ok() && found.size() == 1 && found[0].name == "bim-" + app_ + "-v2";
  }, 15)) << "the v1 container should be retired";
}

TEST_F(DeployTest, FailingBuildKeepsThePreviousReleaseServing) {
  AppFolder folder(app_, "GREETING=good\n");
  ASSERT_EQ(Deploy(folder).exit_code, 0);
  folder.Write("Dockerfile", "FROM scratch\nCOPY no-such-file /x\n");
  CommandResult r = Deploy(folder);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("error: build failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no-such-file"), std::string::npos) << "the reason names Docker's error: " << r.err;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! good\n");

  json releases = server_->Bim({"releases", app_, "--json"}).Json();
  EXPECT_EQ(releases["releases"][0]["status"], "failed");
  EXPECT_NE(releases["releases"][0]["failure_reason"].get<std::string>().find("build failed"), std::string::npos);
  EXPECT_EQ(releases["releases"][1]["status"], "live");
  ImageInfo image;
  EXPECT_TRUE(DockerClient().InspectImage("bim/" + app_ + ":v2", &image).IsNotFound()) << "failed image removed";
}

TEST_F(DeployTest, NeverHealthyReleaseKeepsThePreviousServingAndShowsLogs) {
  AppFolder folder(app_, "GREETING=healthy\n", "2s");
  ASSERT_EQ(Deploy(folder).exit_code, 0);
  folder.Write(".env", "GREETING=sick\nHEALTH_STATUS=503\n");
  CommandResult r = Deploy(folder, {"--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("did not become healthy within 2s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("answered 503"), std::string::npos) << r.err;
  json doc = r.Json();
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["release"], "v2");
  bool saw_log = false;
  for (const auto& line : doc["logs"]) saw_log |= line.get<std::string>().find("listening on port 8080") != std::string::npos;
  EXPECT_TRUE(saw_log) << "the failed container's last log lines are returned: " << doc.dump();
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! healthy\n");

  std::vector<ContainerInfo> found;
  ASSERT_TRUE(DockerClient().ListContainers({{"im.backend.bim.app", app_}, {"im.backend.bim.release", "v2"}}, true, &found).ok());
  EXPECT_TRUE(found.empty()) << "the unhealthy container is removed";
}

TEST_F(DeployTest, ContainerThatExitsFailsFastWithItsExitCode) {
  // Never healthy as well: a server that exits 1 ms after starting can still answer a probe first on a
  // busy machine (it is restarted several times meanwhile), and this test is about the exit code.
  AppFolder folder(app_, "EXIT_AFTER_MS=1\nHEALTH_STATUS=500\n", "30s");
  auto t0 = std::chrono::steady_clock::now();
  CommandResult r = Deploy(folder);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exited before becoming healthy (exit code 3"), std::string::npos) << r.err;
  EXPECT_LT(took, std::chrono::seconds(20)) << "no waiting out the 30s health timeout";
  EXPECT_EQ(server_->Get(app_).status, 404) << "a first release that failed leaves no route";
}

TEST_F(DeployTest, AppsStatusReleasesAndLogsShowWhatHappened) {
  AppFolder folder(app_, "GREETING=observed\n");
  ASSERT_EQ(Deploy(folder).exit_code, 0);

  json apps = server_->Bim({"apps", "--json"}).Json();
  bool listed = false;
  for (const auto& a : apps["apps"])
    if (a["app"] == app_) listed = a["live"] == "v1";
  EXPECT_TRUE(listed) << apps.dump();
  // The table form (read from the same answer as a stream): the app's line with its live release.
  CommandResult apps_table = server_->Bim({"apps"});
  ASSERT_EQ(apps_table.exit_code, 0) << apps_table.err;
  EXPECT_EQ(apps_table.out.rfind("APP ", 0), 0u) << apps_table.out;
  size_t line = apps_table.out.find("\n" + app_ + " ");
  ASSERT_NE(line, std::string::npos) << apps_table.out;
  std::string row = apps_table.out.substr(line + 1, apps_table.out.find('\n', line + 1) - line - 1);
  EXPECT_NE(row.find(" v1 "), std::string::npos) << row;
  EXPECT_NE(row.find("v1 live"), std::string::npos) << row;
  EXPECT_NE(row.find("http://"), std::string::npos) << row;

  CommandResult status = server_->Bim({"status", app_, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json st = status.Json();
  EXPECT_EQ(st["live"]["release"], "v1");
  EXPECT_EQ(st["container"]["running"], true);
  EXPECT_EQ(st["container"]["restarts"], 0);
  EXPECT_EQ(st["state"], "running");

  CommandResult human = server_->Bim({"status", app_});
  EXPECT_NE(human.out.find("Live:     v1"), std::string::npos) << human.out;

  CommandResult logs = server_->Bim({"logs", app_, "--tail", "10"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("hello-server: listening on port 8080"), std::string::npos) << logs.out;
  json jl = server_->Bim({"logs", app_, "--json"}).Json();
  EXPECT_FALSE(jl["lines"].empty());

  CommandResult table = server_->Bim({"releases", app_});
  EXPECT_NE(table.out.find("v1"), std::string::npos);
  EXPECT_NE(table.out.find("live"), std::string::npos);
}

TEST_F(DeployTest, DestroyRemovesContainerRouteAndImage) {
  AppFolder folder(app_, "GREETING=bye\n");
  ASSERT_EQ(Deploy(folder).exit_code, 0);
  ASSERT_EQ(server_->Get(app_).status, 200);
  CommandResult r = server_->Bim({"destroy", app_, "--yes", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_->Get(app_).status, 404);
  std::vector<ContainerInfo> found;
  DockerClient docker;
  ASSERT_TRUE(docker.ListContainers({{"im.backend.bim.app", app_}}, true, &found).ok());
  EXPECT_TRUE(found.empty());
  ImageInfo image;
  EXPECT_TRUE(docker.InspectImage("bim/" + app_ + ":v1", &image).IsNotFound());
  EXPECT_EQ(server_->Bim({"status", app_}).exit_code, 4);
}

TEST_F(DeployTest, BadInputGetsAOneLineErrorAndAStableExitCode) {
  CommandResult r = server_->Bim({"status", "Bad_Name"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = server_->Bim({"status", "no-such-" + UniqueSuffix()});
  EXPECT_EQ(r.exit_code, 4) << r.err;

  AppFolder folder(app_, "NOT A VALID LINE\n");
  r = Deploy(folder);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(".env line 1"), std::string::npos) << r.err;

  AppFolder bad_toml(app_, "");
  bad_toml.Write("bim.toml", "app = \"x\"\nprot = 80\n");
  r = Deploy(bad_toml);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("prot"), std::string::npos) << r.err;

  // Without credentials: exit 3 naming `bim login`.
  CommandResult anon = RunProcess({BuildPath("bim"), "apps"}, {{"BIM_SERVER", ""}, {"BIM_TOKEN", ""}, {"HOME", "/nonexistent"}});
  EXPECT_EQ(anon.exit_code, 3);
  EXPECT_NE(anon.err.find("bim login"), std::string::npos) << anon.err;

  CommandResult wrong = RunProcess({BuildPath("bim"), "apps"},
                                   {{"BIM_SERVER", "http://127.0.0.1:" + std::to_string(server_->api_port())},
                                    {"BIM_TOKEN", "bim_wrong"}, {"HOME", "/nonexistent"}});
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_EQ(server_->Log().find("bim_wrong"), std::string::npos) << "tokens never reach the log";
}

TEST_F(DeployTest, DotenvValuesNeverReachTheImageOrTheLogs) {
  const std::string secret = "s3cr3t-" + UniqueSuffix();
  AppFolder folder(app_, "GREETING=" + secret + "\n");
  CommandResult r = Deploy(folder);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(".env is never uploaded"), std::string::npos) << "the CLI warns: " << r.err;
  EXPECT_EQ(r.out.find(secret), std::string::npos);
  EXPECT_EQ(r.err.find(secret), std::string::npos);
  EXPECT_EQ(server_->Log().find(secret), std::string::npos);
  EXPECT_EQ(server_->Bim({"status", app_, "--json"}).out.find(secret), std::string::npos);
  EXPECT_EQ(server_->Bim({"releases", app_, "--json"}).out.find(secret), std::string::npos);
}

TEST_F(DeployTest, LoginSavesCredentialsWithPrivateMode) {
  std::string home = "/tmp/bim-login-" + UniqueSuffix();
  CommandResult r = RunProcess({BuildPath("bim"), "login", "127.0.0.1:" + std::to_string(server_->api_port()),
                                "--token", server_->token()},
                               {{"HOME", home}, {"BIM_SERVER", ""}, {"BIM_TOKEN", ""}, {"XDG_CONFIG_HOME", ""}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat((home + "/.config/bim/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CommandResult apps = RunProcess({BuildPath("bim"), "apps", "--json"}, {{"HOME", home}, {"BIM_SERVER", ""}, {"BIM_TOKEN", ""}, {"XDG_CONFIG_HOME", ""}});
  EXPECT_EQ(apps.exit_code, 0) << apps.err;
  CommandResult bad = RunProcess({BuildPath("bim"), "login", "127.0.0.1:" + std::to_string(server_->api_port()),
                                  "--token", "bim_nope"},
                                 {{"HOME", home + "-2"}, {"BIM_SERVER", ""}, {"BIM_TOKEN", ""}, {"XDG_CONFIG_HOME", ""}});
  EXPECT_EQ(bad.exit_code, 3);
  std::filesystem::remove_all(home);
  std::filesystem::remove_all(home + "-2");
}

}  // namespace
}  // namespace bim::testing
