// Issue 4 on the real stack: every hostile name through the raw API and through `bim`, tokens and
// scopes, revocation, wrong tokens kept out of the log, secrets kept out of everything but the
// container, the listen rule and TLS.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "docker/engine_http.h"
#include "integration/security_helpers.h"
#include "support/context_tar.h"

extern char** environ;

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every way we know to smuggle syntax into an nginx config, a path, a label or a shell.
const std::vector<std::string>& HostileNames() {
  static const std::vector<std::string> names = {
      "a;b", "a{b", "a}b", "a\nb", "$app", "a\"b", "a'b", "..", std::string("a\0b", 3),
      "h\xD2\xBBllo",  // Cyrillic shha, looks like "hello"
      "\xD0\xB0pp",    // Cyrillic a
      "A", "a b", "-a", "a\\b", "a`id`", std::string(64, 'a')};
  return names;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Bimd({"--drain-grace-ms", "200"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { app_ = "s-" + UniqueSuffix(); }

  // `bim` with another token (the harness's Bim() always uses the admin token).
  CommandResult BimAs(const std::string& token, const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {BuildPath("bim")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, {{"BIM_SERVER", "http://127.0.0.1:" + std::to_string(server_->api_port())},
                             {"BIM_TOKEN", token},
                             {"HOME", server_->data_dir() + "-home"}});
  }

  // Creates a token through the CLI; returns {id, value}.
  std::pair<std::string, std::string> CreateToken(const std::string& name, const std::string& app) {
    std::vector<std::string> args = {"token", "create", "--name", name, "--json"};
    if (!app.empty()) args.insert(args.end(), {"--app", app});
    CommandResult r = server_->Bim(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = r.Json();
    if (!j.is_object()) return {"", ""};
    return {std::to_string(j.value("id", 0)), j.value("token", "")};
  }

  // A valid build context in memory, for raw deploy uploads.
  static std::string HelloContext() {
    std::string path = fs::temp_directory_path() / ("bim-ctx-" + UniqueSuffix() + ".tar");
    std::string error;
    EXPECT_TRUE(WriteHelloContextTar(path, &error)) << error;
    std::string bytes = ReadBytes(path);
    fs::remove(path);
    return bytes;
  }

  ApiAnswer RawDeploy(const std::string& url_app, const json& meta, const std::string& context) {
    return Api(server_->api_port(), "POST", "/v1/apps/" + url_app + "/deploy", server_->token(), "", {},
               {{"meta", meta.dump()}, {"context", context}});
  }

  static Bimd* server_;
  std::string app_;
};

Bimd* SecurityTest::server_ = nullptr;

TEST_F(SecurityTest, HostileAppNamesAreRefusedByEveryRouteWithoutHarm) {
  Snapshot before;
  ASSERT_TRUE(Take(*server_, &before));
  std::string context = HelloContext();
  int port = server_->api_port();
  for (const std::string& name : HostileNames()) {
    std::string shown = json(name).dump(-1, ' ', false, json::error_handler_t::replace);
    std::string path = "/v1/apps/" + Escape(name);
    for (const std::string& suffix : {std::string(""), std::string("/releases"), std::string("/logs")}) {
      ApiAnswer a = Api(port, "GET", path + suffix, server_->token());
      EXPECT_EQ(a.status, 400) << shown << suffix << ": " << a.body << a.error;
      EXPECT_NE(a.Message().find("app name"), std::string::npos) << a.body;
    }
    ApiAnswer del = Api(port, "DELETE", path, server_->token());
    EXPECT_EQ(del.status, 400) << shown << ": " << del.body;
    ApiAnswer deploy = RawDeploy(Escape(name), json{{"app", name}}, context);
    EXPECT_EQ(deploy.status, 400) << shown << ": " << deploy.body << deploy.error;
    EXPECT_NE(deploy.Message().find("app name"), std::string::npos) << deploy.body;
    // A hostile app scope for a token.
    ApiAnswer tok = Api(port, "POST", "/v1/tokens", server_->token(), json{{"name", "x"}, {"app", name}}.dump());
    EXPECT_EQ(tok.status, 400) << shown << ": " << tok.body;
    ApiAnswer audit = Api(port, "GET", "/v1/audit?app=" + Escape(name), server_->token());
    EXPECT_EQ(audit.status, 400) << shown << ": " << audit.body;
    // Through the CLI: refused before any request, exit code 2, one-line message. (argv cannot carry
    // a NUL, and a leading '-' makes it a flag, so those two are API-only.)
    if (name.find('\0') != std::string::npos || name[0] == '-') continue;
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"status", name}, {"destroy", name, "--yes"}, {"releases", name}, {"audit", "--app", name},
             {"token", "create", "--app", name}}) {
      CommandResult r = server_->Bim(args);
      EXPECT_EQ(r.exit_code, 2) << shown << " " << args[0] << ": " << r.err;
      EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
      EXPECT_NE(r.err.find("app name"), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    }
  }
  // Embedded '/' never reaches a handler as an app name: the route does not match.
  EXPECT_EQ(Api(port, "GET", "/v1/apps/a%2Fb/releases/x", server_->token()).status, 404);
  Snapshot after;
  ASSERT_TRUE(Take(*server_, &after));
  EXPECT_EQ(before, after) << Describe(before) << "\n" << Describe(after);
}

// The "nothing changed" snapshot must see each kind of change it claims to cover, or its EXPECT_EQ
// proves nothing.
TEST_F(SecurityTest, TheNothingChangedSnapshotSeesEveryKindOfChange) {
  Snapshot start, after_token, after_deploy;
  ASSERT_TRUE(Take(*server_, &start));
  CommandResult token = server_->Bim({"token", "create", "--name", "snap-" + UniqueSuffix(), "--json"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  ASSERT_TRUE(Take(*server_, &after_token));
  EXPECT_NE(start.tokens, after_token.tokens) << "a new token";
  EXPECT_NE(start.audit, after_token.audit) << "its audit row";
  AppFolder folder(app_, "GREETING=snap\n");
  ASSERT_EQ(server_->Bim({"deploy", folder.path()}).exit_code, 0);
  ASSERT_TRUE(Take(*server_, &after_deploy));
  EXPECT_NE(after_token.apps, after_deploy.apps) << "a new app";
  EXPECT_NE(after_token.routes, after_deploy.routes) << "its route";
  EXPECT_NE(after_token.docker, after_deploy.docker) << "its container and image";
  // A route whose file name stays but whose contents change is a change too.
  Snapshot edited = after_deploy;
  edited.routes.begin()->second += "# edited\n";
  EXPECT_FALSE(edited == after_deploy);
  ASSERT_EQ(server_->Bim({"token", "revoke", std::to_string(token.Json()["id"].get<int64_t>())}).exit_code, 0);
  ASSERT_EQ(server_->Bim({"destroy", app_, "--yes"}).exit_code, 0);
}

TEST_F(SecurityTest, HostileMetaFieldsAreRefusedWithoutHarm) {
  Snapshot before;
  ASSERT_TRUE(Take(*server_, &before));
  std::string context = HelloContext();
  const std::vector<std::string> keys = {"A;B", "A{B", "A}B", "A\nB", "$A", "A\"B", "A'B", "..", std::string("A\0B", 3),
                                         "\xD0\x90PI",  // Cyrillic A
                                         "1A", "A B", "A=B", ""};
  for (const std::string& key : keys) {
    json meta{{"app", app_}, {"env", json::array({{{"key", key}, {"value", "v"}}})}};
    ApiAnswer a = RawDeploy(app_, meta, context);
    EXPECT_EQ(a.status, 400) << json(key).dump(-1, ' ', false, json::error_handler_t::replace) << ": " << a.body;
    EXPECT_NE(a.Message().find("env key"), std::string::npos) << a.body;
  }
  const std::vector<std::string> paths = {"/a;b", "/{x}", "/x}", "/a\nb", "/$host", "/\"", "/'", "/..", "/a/../b",
                                          std::string("/a\0b", 4), "/\xD2\xBB", "healthz", "/a b", "/a`id`"};
  for (const std::string& path : paths) {
    json meta{{"app", app_}, {"health", {{"path", path}}}};
    ApiAnswer a = RawDeploy(app_, meta, context);
    EXPECT_EQ(a.status, 400) << json(path).dump(-1, ' ', false, json::error_handler_t::replace) << ": " << a.body;
    EXPECT_NE(a.Message().find("health path"), std::string::npos) << a.body;
  }
  // Other meta fields that reach Docker or the database.
  for (const json& meta : {json{{"app", "other"}}, json{{"app", app_}, {"port", 0}}, json{{"app", app_}, {"port", "80"}},
                           json{{"app", app_}, {"git_commit", "abc;rm"}}, json{{"app", app_}, {"env", "A=1"}},
                           json{{"app", app_}, {"env", json::array({{{"key", "A"}, {"value", std::string("x\0y", 3)}}})}}}) {
    ApiAnswer a = RawDeploy(app_, meta, context);
    EXPECT_EQ(a.status, 400) << meta.dump() << ": " << a.body;
    EXPECT_FALSE(a.Message().empty()) << a.body;
  }
  EXPECT_EQ(RawDeploy(app_, json::object(), "").status, 400) << "empty context";
  ApiAnswer not_json = Api(server_->api_port(), "POST", "/v1/apps/" + app_ + "/deploy", server_->token(), "",
                           {}, {{"meta", "{not json"}, {"context", context}});
  EXPECT_EQ(not_json.status, 400) << not_json.body;

  // The same through `bim deploy`: a bad .env key and a bad health path in bim.toml are refused
  // before anything is uploaded.
  AppFolder bad_env(app_, "GOOD=1\nBAD;KEY=2\n");
  CommandResult r = server_->Bim({"deploy", bad_env.path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
  AppFolder bad_health(app_, "");
  bad_health.Write("bim.toml", "app = \"" + app_ + "\"\n[health]\npath = \"/a;b}\"\n");
  r = server_->Bim({"deploy", bad_health.path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("health path"), std::string::npos) << r.err;
  AppFolder bad_name("x", "");
  bad_name.Write("bim.toml", "app = \"a;b\"\n");
  r = server_->Bim({"deploy", bad_name.path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = server_->Bim({"deploy", bad_name.path(), "--app", "$(id)"});
  EXPECT_EQ(r.exit_code, 2) << r.err;

  Snapshot after;
  ASSERT_TRUE(Take(*server_, &after));
  EXPECT_EQ(before, after) << Describe(before) << "\n" << Describe(after);
}

TEST_F(SecurityTest, HostileDomainsAndTokenNamesAreRefused) {
  for (const std::string& domain : std::vector<std::string>{"evil;com", "a{b}.com", "a.com\nx", "$host", "\"a.com\"", "..",
                                    std::string("h\xD2\xBBllo.com")}) {
    std::string dir = server_->data_dir() + "-domain-" + UniqueSuffix();
    CommandResult r = RunProcess({BuildPath("bimd"), "--data-dir", dir, "--listen", "127.0.0.1:0", "--domain", domain},
                                 {}, 30);
    EXPECT_NE(r.exit_code, 0) << domain;
    EXPECT_NE(r.err.find("--domain"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir)) << "refused before the data dir is touched";
  }
  for (const std::string& name :
       std::vector<std::string>{"a;b", "a b", "a\nb", "$x", "a\"b", std::string(65, 'n'), "admin"}) {
    ApiAnswer a = Api(server_->api_port(), "POST", "/v1/tokens", server_->token(), json{{"name", name}}.dump());
    EXPECT_EQ(a.status, 400) << name << ": " << a.body;
    EXPECT_NE(a.Message().find("token name"), std::string::npos) << a.body;
  }
  CommandResult r = server_->Bim({"token", "create", "--name", "a;b"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = server_->Bim({"token", "revoke", "1;2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Api(server_->api_port(), "DELETE", "/v1/tokens/" + Escape("1;2"), server_->token()).status, 400);
  EXPECT_EQ(Api(server_->api_port(), "DELETE", "/v1/tokens/999999", server_->token()).status, 404);
}

TEST_F(SecurityTest, ScopedTokenDeploysItsOwnAppOnlyAndRevocationIsImmediate) {
  std::string other = "s-" + UniqueSuffix();
  AppFolder own(app_, "GREETING=own\n");
  AppFolder foreign(other, "GREETING=foreign\n");
  ASSERT_EQ(server_->Bim({"deploy", foreign.path()}).exit_code, 0);

  auto [id, token] = CreateToken("ci-" + app_, app_);
  ASSERT_TRUE(token.starts_with("bim_")) << token;
  EXPECT_EQ(token.size(), 4u + 64u) << "32 random bytes, hex";

  CommandResult r = BimAs(token, {"deploy", own.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! own\n");

  // Another app: 403 through the API, exit 3 through the CLI, for every route.
  r = BimAs(token, {"deploy", foreign.path()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("may only act on app \"" + app_ + "\""), std::string::npos) << r.err;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status", other}, {"releases", other}, {"logs", other}, {"destroy", other, "--yes"}, {"audit", "--app", other},
           {"token", "list"}, {"token", "create"}, {"token", "revoke", id}}) {
    r = BimAs(token, args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << " " << args[1] << ": " << r.err;
  }
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/apps/" + other}, {"DELETE", "/v1/apps/" + other}, {"GET", "/v1/tokens"},
           {"POST", "/v1/tokens"}, {"DELETE", "/v1/tokens/" + id}, {"GET", "/v1/audit?app=" + other}}) {
    ApiAnswer a = Api(server_->api_port(), method, path, token, method == "POST" ? "{}" : "");
    EXPECT_EQ(a.status, 403) << method << " " << path << ": " << a.body;
  }
  EXPECT_EQ(server_->Get(other).body, "Hello from bim! foreign\n") << "the other app is untouched";
  // `bim apps` and the audit log show the scoped token its own app only.
  r = BimAs(token, {"apps", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.Json()["apps"].size(), 1u) << r.out;
  EXPECT_EQ(r.Json()["apps"][0]["app"], app_);
  r = BimAs(token, {"audit", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json own_audit = r.Json();
  ASSERT_FALSE(own_audit["entries"].empty()) << r.out;
  for (const auto& e : own_audit["entries"]) EXPECT_EQ(e["app"], app_) << e.dump();

  // The audit log (admin view) names the token, never its value.
  r = server_->Bim({"audit", "--app", app_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool saw_deploy = false;
  json audit = r.Json();
  for (const auto& e : audit["entries"])
    if (e["action"] == "deploy" && e["actor"] == "ci-" + app_ && e["result"] == "ok") saw_deploy = true;
  EXPECT_TRUE(saw_deploy) << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos);

  // Revoke: refused on the very next request.
  r = server_->Bim({"token", "revoke", id, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["revoked"], true);
  ApiAnswer a = Api(server_->api_port(), "GET", "/v1/apps/" + app_, token);
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_NE(a.Message().find("invalid or revoked"), std::string::npos) << a.body;
  r = BimAs(token, {"status", app_});
  EXPECT_EQ(r.exit_code, 3) << r.err;

  // The list shows it revoked, with no value or hash anywhere.
  r = server_->Bim({"token", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool listed = false;
  json tokens = r.Json();
  for (const auto& t : tokens["tokens"]) {
    EXPECT_FALSE(t.contains("token"));
    EXPECT_FALSE(t.contains("hash"));
    if (std::to_string(t.value("id", 0)) == id) listed = t["revoked"] == true;
  }
  EXPECT_TRUE(listed) << r.out;
  EXPECT_EQ(r.out.find(token.substr(4)), std::string::npos);
  r = server_->Bim({"token", "list"});
  EXPECT_NE(r.out.find("revoked"), std::string::npos) << r.out;

  r = server_->Bim({"audit", "--json", "--limit", "50"});
  bool saw_create = false, saw_revoke = false;
  audit = r.Json();
  for (const auto& e : audit["entries"]) {
    if (e["action"] == "token.create" && e["actor"] == "admin") saw_create = true;
    if (e["action"] == "token.revoke" && e["actor"] == "admin") saw_revoke = true;
  }
  EXPECT_TRUE(saw_create && saw_revoke) << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos);
  EXPECT_EQ(server_->Log().find(token), std::string::npos) << "a token value reached bimd's log";

  EXPECT_EQ(server_->Bim({"destroy", other, "--yes"}).exit_code, 0);
  EXPECT_EQ(server_->Bim({"destroy", app_, "--yes"}).exit_code, 0);
}

TEST_F(SecurityTest, UnscopedTokenWorksAndWrongTokensAreRefusedUnlogged) {
  auto [id, token] = CreateToken("ops", "");
  ApiAnswer ok = Api(server_->api_port(), "GET", "/v1/tokens", token);
  EXPECT_EQ(ok.status, 200) << ok.body;
  CommandResult r = BimAs(token, {"server", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["token"], "ops");

  const std::string wrong = "bim_" + std::string(56, 'f') + UniqueSuffix();
  for (const std::string& header : {"Bearer " + wrong, wrong, "Basic " + wrong, "Bearer " + token + "x",
                                    "Bearer " + token.substr(0, token.size() - 1)}) {
    ApiAnswer a = Api(server_->api_port(), "GET", "/v1/apps", "", "", {"Authorization: " + header});
    EXPECT_EQ(a.status, 401) << a.body;
    EXPECT_EQ(a.body.find(wrong), std::string::npos);
  }
  EXPECT_EQ(Api(server_->api_port(), "GET", "/v1/apps", "").status, 401);
  EXPECT_EQ(Api(server_->api_port(), "GET", "/healthz", "").status, 200) << "the health probe needs no token";
  r = BimAs(wrong, {"apps"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.find(wrong), std::string::npos);
  std::string log = server_->Log();
  EXPECT_NE(log.find("refused GET /v1/apps"), std::string::npos) << "the refusal is logged";
  EXPECT_EQ(log.find(wrong), std::string::npos) << "but never the presented value";
  EXPECT_EQ(log.find(wrong.substr(4, 20)), std::string::npos);
  EXPECT_EQ(server_->Bim({"token", "revoke", id}).exit_code, 0);
}

TEST_F(SecurityTest, RequestBodiesAndHeadersHaveLimits) {
  int port = server_->api_port();
  std::string big(2 << 20, 'x');
  ApiAnswer a = Api(port, "POST", "/v1/tokens", server_->token(), big);
  EXPECT_EQ(a.status, 413) << a.body;
  // A chunked body outside the deploy route: 411 Length Required, before a byte of it is read.
  a = Api(port, "POST", "/v1/tokens", server_->token(), "", {"Transfer-Encoding: chunked"});
  EXPECT_EQ(a.status, 411) << a.body;
  a = Api(port, "GET", "/v1/apps", server_->token(), "", {"X-Big: " + std::string(16 << 10, 'h')});
  EXPECT_GE(a.status, 400) << "a 16 KiB header line is refused (" << a.error << ")";
  a = Api(port, "GET", "/v1/apps?x=" + std::string(16 << 10, 'q'), server_->token());
  EXPECT_GE(a.status, 400) << "a 16 KiB request line is refused (" << a.error << ")";
  EXPECT_EQ(Api(port, "GET", "/healthz", "").status, 200) << "bimd still serves";
}

TEST_F(SecurityTest, SecretsAppearOnlyInsideTheContainer) {
  const std::string secret = "s3cr3t-" + UniqueSuffix() + UniqueSuffix();
  AppFolder folder(app_, "GREETING=" + secret + "\nAPI_KEY=\"" + secret + "-key\"\n");
  CommandResult deploy = server_->Bim({"deploy", folder.path()});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.err;
  CommandResult deploy_json = server_->Bim({"deploy", folder.path(), "--json"});
  ASSERT_EQ(deploy_json.exit_code, 0) << deploy_json.err;
  // The secret did reach the app (so its absence elsewhere means something).
  EXPECT_EQ(server_->Get(app_).body, "Hello from bim! " + secret + "\n");

  std::string cli;
  for (const auto& args : std::vector<std::vector<std::string>>{{"status", app_, "--json"}, {"status", app_},
                                                                {"releases", app_, "--json"}, {"releases", app_},
                                                                {"audit", "--json"}, {"apps", "--json"}}) {
    CommandResult r = server_->Bim(args);
    cli += r.out + r.err;
  }
  EXPECT_EQ((deploy.out + deploy.err).find(secret), std::string::npos) << "deploy output";
  EXPECT_EQ((deploy_json.out + deploy_json.err).find(secret), std::string::npos) << "deploy --json output";
  EXPECT_EQ(cli.find(secret), std::string::npos) << "CLI output";
  EXPECT_EQ(server_->Log().find(secret), std::string::npos) << "bimd's log";

  // The database: bim.db and its WAL hold ciphertexts only.
  std::string db = ReadBytes(server_->data_dir() + "/bim.db") + ReadBytes(server_->data_dir() + "/bim.db-wal");
  ASSERT_FALSE(db.empty());
  EXPECT_EQ(db.find(secret), std::string::npos) << "database file";

  // The image: its config (Env, Labels, history commands) never carries the .env.
  json status = server_->Bim({"status", app_, "--json"}).Json();
  std::string image = status["live"].value("image", "");
  ASSERT_FALSE(image.empty()) << status.dump();
  DockerClient docker;
  ImageInfo info;
  ASSERT_TRUE(docker.InspectImage(image, &info).ok());
  for (const auto& [k, v] : info.labels) EXPECT_EQ(v.find(secret), std::string::npos) << k;
  for (const char* what : {"/json", "/history"}) {
    engine::Request req;
    req.target = "/images/" + engine::PathEscape(image) + what;
    engine::Response res;
    ASSERT_TRUE(engine::Perform(docker.socket_path(), req, &res).ok());
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(res.body.find(secret), std::string::npos) << "docker image inspect " << what;
    EXPECT_EQ(res.body.find("GREETING"), std::string::npos) << "not even the key: " << what;
  }
  EXPECT_EQ(server_->Bim({"destroy", app_, "--yes"}).exit_code, 0);
}

// --- Listening: loopback by default, TLS or --insecure elsewhere. ---

TEST(ListenTest, NonLoopbackWithoutTlsIsRefusedBeforeAnythingStarts) {
  std::string dir = (fs::temp_directory_path() / ("bim-listen-" + UniqueSuffix())).string();
  CommandResult r = RunProcess({BuildPath("bimd"), "--data-dir", dir, "--listen", "0.0.0.0:0"}, {}, 30);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  for (const char* flag : {"--tls-cert", "--tls-key", "--insecure"}) EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir));
  r = RunProcess({BuildPath("bimd"), "--data-dir", dir, "--listen", "127.0.0.1:0", "--tls-cert", "/x.pem"}, {}, 30);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("go together"), std::string::npos) << r.err;
}

// A bimd started by hand with TLS (the harness speaks plain HTTP). Cleans up its nginx and dirs.
class TlsBimd {
 public:
  TlsBimd() {
    dir_ = (fs::temp_directory_path() / ("bim-tls-" + UniqueSuffix())).string();
    fs::create_directories(dir_ + "-pki");
    cert_ = dir_ + "-pki/cert.pem";
    key_ = dir_ + "-pki/key.pem";
    // A self-signed certificate for 127.0.0.1, made with the openssl binary (posix_spawn, no shell).
    CommandResult r = RunProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key_,
                                  "-out", cert_, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                                  "subjectAltName=IP:127.0.0.1"},
                                 {}, 60);
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
  }
  ~TlsBimd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    int nginx = std::atoi(ReadBytes(dir_ + "/nginx/nginx.pid").c_str());
    if (nginx > 0) {
      kill(nginx, SIGQUIT);
      for (int i = 0; i < 100 && kill(nginx, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      kill(nginx, SIGKILL);
    }
    // What bimd put on the host besides its dirs: its firewall chains (and any network). CI found this
    // bimd's BIM-<instance> chains left behind after every run.
    if (fs::exists(dir_ + "/bim.db"))
      RunProcess({BuildPath("bimd"), "--data-dir", dir_, "--templates", std::string(BIM_SOURCE_DIR) + "/templates/nginx",
                  "--teardown"}, {}, 60);
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::remove_all(dir_ + "-pki", ec);
    fs::remove(dir_ + ".log", ec);
  }

  // Starts bimd on a free port with the given extra flags; false if it exited.
  bool Start(const std::vector<std::string>& extra) {
    PickPort();
    std::vector<std::string> argv = {BuildPath("bimd"), "--data-dir", dir_, "--listen", "127.0.0.1:" + std::to_string(port_),
                                     "--http-listen", "127.0.0.1:" + std::to_string(http_port_),
                                     "--templates", std::string(BIM_SOURCE_DIR) + "/templates/nginx"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::string log = dir_ + ".log";
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 200; ++i) {
      if (Https("/healthz", "").status == 200) return true;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  ApiAnswer Https(const std::string& path, const std::string& token, bool verify = true) const {
    ApiAnswer a;
    CURL* curl = curl_easy_init();
    std::string url = "https://127.0.0.1:" + std::to_string(port_) + path;
    curl_slist* list = nullptr;
    if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_CAINFO, cert_.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectInto);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
    if (rc != CURLE_OK) a.error = curl_easy_strerror(rc);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return a;
  }

  std::string Token() const {
    std::string t = ReadBytes(dir_ + "/admin.token");
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }
  std::string Log() const { return ReadBytes(dir_ + ".log"); }
  int port() const { return port_; }
  const std::string& cert() const { return cert_; }
  const std::string& dir() const { return dir_; }

 private:
  void PickPort() {
    // Two distinct free ports: bind port 0 twice and keep both open while reading them.
    int fds[2];
    int* ports[2] = {&port_, &http_port_};
    for (int i = 0; i < 2; ++i) {
      fds[i] = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bind(fds[i], reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      socklen_t len = sizeof addr;
      getsockname(fds[i], reinterpret_cast<sockaddr*>(&addr), &len);
      *ports[i] = ntohs(addr.sin_port);
    }
    close(fds[0]);
    close(fds[1]);
  }

  std::string dir_, cert_, key_;
  pid_t pid_ = 0;
  int port_ = 0, http_port_ = 0;
};

TEST(ListenTest, TlsServesHttpsOnly) {
  TlsBimd tls;
  TlsBimd* server = &tls;
  ASSERT_TRUE(server->Start({"--tls-cert", server->cert(), "--tls-key", server->dir() + "-pki/key.pem"})) << server->Log();
  std::string token = server->Token();
  ApiAnswer a = server->Https("/v1/apps", token);
  EXPECT_EQ(a.status, 200) << a.error << a.body;
  EXPECT_EQ(server->Https("/v1/apps", "").status, 401);
  EXPECT_EQ(server->Https("/v1/apps", token, /*verify=*/false).status, 200);
  // Plain HTTP on the TLS port gets no API answer.
  HttpResult plain = HttpGet(server->port(), "/healthz");
  EXPECT_NE(plain.status, 200);
  // The CLI over https, trusting the self-signed cert through BIM_CA_CERT.
  std::map<std::string, std::string> env = {{"BIM_SERVER", "https://127.0.0.1:" + std::to_string(server->port())},
                                            {"BIM_TOKEN", token},
                                            {"BIM_CA_CERT", server->cert()},
                                            {"HOME", server->dir() + "-pki"}};
  CommandResult r = RunProcess({BuildPath("bim"), "apps", "--json"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  env.erase("BIM_CA_CERT");
  r = RunProcess({BuildPath("bim"), "apps", "--json"}, env);
  EXPECT_EQ(r.exit_code, 5) << "an unknown CA is refused: " << r.err;
  EXPECT_NE(server->Log().find("https://127.0.0.1"), std::string::npos) << server->Log();
}

TEST(ListenTest, BadTlsFilesAreRefusedWithTheirNames) {
  TlsBimd server;
  std::string missing = server.dir() + "-pki/missing.pem";
  EXPECT_FALSE(server.Start({"--tls-cert", missing, "--tls-key", missing}));
  EXPECT_NE(server.Log().find("missing.pem"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace bim::testing
