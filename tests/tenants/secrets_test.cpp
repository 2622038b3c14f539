// Tenants, secrets and hygiene: .env files never reach an image, env values need a token allowed to
// read them (and every reveal is audited), the published env digest is keyed, a destroyed app's
// tokens die with it, the admin token rotates, the data dir is private at every start, crafted tars are refused, control
// characters from tenants are escaped, and nothing of app b shows in anything app a's token reads.
#include <sodium.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/dotenv.h"
#include "integration/security_helpers.h"
#include "support/context_tar.h"
#include "tenants/tenant_world.h"

namespace bim::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The env digest as bim published it before it was keyed: SHA-256 over the sorted, length-prefixed
// keys and values. Anyone could recompute it to test a guess of a value.
std::string UnkeyedDigest(EnvList env) {
  std::sort(env.begin(), env.end(), [](const EnvVar& a, const EnvVar& b) { return a.key < b.key; });
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (const EnvVar& v : env)
    for (const std::string* s : {&v.key, &v.value}) {
      unsigned char len[8];
      for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t{s->size()} >> (8 * i));
      crypto_hash_sha256_update(&st, len, 8);
      crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(s->data()), s->size());
    }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

// Every directory in `dir` must be 0700 and every file 0600 (or stricter, like git's read-only
// objects); with `exact`, files exactly 0600 (what bimd sets at every start). The offenders.
std::vector<std::string> Loose(const std::string& dir, bool exact) {
  std::vector<std::string> loose;
  struct stat st;
  if (lstat(dir.c_str(), &st) == 0 && (st.st_mode & 07777) != 0700) loose.push_back(dir);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (lstat(it->path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    mode_t mode = st.st_mode & 07777;
    bool ok = S_ISDIR(st.st_mode) ? mode == 0700 : exact ? mode == 0600 : (mode & ~0600) == 0;
    if (!ok) loose.push_back(it->path().string() + " " + std::to_string(mode));
  }
  return loose;
}

bool HasRawControl(const std::string& s) {
  return s.find('\x1b') != std::string::npos || s.find('\x07') != std::string::npos;
}

TEST(TenantsSecrets, SecretsTokensFilesAndTextStayWithTheirApp) {
  TenantWorld world;
  ASSERT_NO_FATAL_FAILURE(world.DeployVictim());

  // .env files anywhere in the folder stay out of the build context and so out of the image.
  ProbeFolder a(world.a(), "FROM scratch\nCOPY . /app\nRUN [\"/app/probe\", \"print\", \"\\u001b]0;pwned\\u0007 ok\\u001b[2J\"]\n"
                           "CMD [\"/app/probe\"]\n",
                "", "A_KEY=a-value\n");
  a.Write("config/.env.production", "PROD_SECRET=hidden\n");
  a.Write(".envrc", "export X=1\n");
  CommandResult deployed = world.DeployA(a);
  ASSERT_EQ(deployed.exit_code, 0) << deployed.err;
  EXPECT_NE(deployed.err.find("config/.env.production is never uploaded"), std::string::npos) << deployed.err;
  for (const char* path : {"/app/.env", "/app/.envrc", "/app/config/.env.production"})
    EXPECT_EQ(world.Get(world.a(), std::string("/file?path=") + path).status, 404) << path << " is in the image";
  EXPECT_EQ(world.Get(world.a(), "/file?path=/app/probe").status, 200);
  // The build output's escape sequences reached the terminal escaped, not raw.
  EXPECT_FALSE(HasRawControl(deployed.err)) << "raw escape sequences in `bim deploy` output";
  EXPECT_NE(deployed.err.find("\\x1b]0;pwned\\x07 ok"), std::string::npos) << deployed.err;

  // The server refuses what the CLI would never send: .env files and entries beneath a symlink.
  int port = world.server().api_port();
  auto upload = [&](const std::string& context) {
    return Api(port, "POST", "/v1/apps/" + world.a() + "/deploy", world.token_a(), "", {},
               {{"meta", json{{"app", world.a()}}.dump()}, {"context", context}});
  };
  const TarEntry dockerfile{TarEntry::kFile, "Dockerfile", "FROM scratch\nCOPY . /\n"};
  ApiAnswer env_tar = upload(Tar({dockerfile, {TarEntry::kFile, "deep/.env.local", "K=v"}}));
  EXPECT_EQ(env_tar.status, 400) << env_tar.body;
  EXPECT_NE(env_tar.Message().find("never uploads .env files"), std::string::npos) << env_tar.body;
  ApiAnswer beneath = upload(Tar({dockerfile, {TarEntry::kDir, "sub", ""}, {TarEntry::kSymlink, "link", "sub"},
                                  {TarEntry::kFile, "link/x", "x"}}));
  EXPECT_EQ(beneath.status, 400) << beneath.body;
  EXPECT_NE(beneath.Message().find("beneath the symlink \"link\""), std::string::npos) << beneath.body;

  // Env values: masked for a's token, revealed only for a token allowed to, every reveal audited.
  CommandResult masked = world.BimAs(world.token_a(), {"env", "list", world.a(), "--json"});
  EXPECT_EQ(masked.exit_code, 0) << masked.err;
  EXPECT_EQ(masked.out.find("a-value"), std::string::npos);
  CommandResult denied = world.BimAs(world.token_a(), {"env", "list", world.a(), "--reveal"});
  EXPECT_EQ(denied.exit_code, 3) << denied.err;
  EXPECT_NE(ErrorLine(denied.err).find("--read-secrets"), std::string::npos) << denied.err;
  std::string reader = world.CreateToken("reader", world.a(), true);
  CommandResult revealed = world.BimAs(reader, {"env", "list", world.a(), "--reveal", "--json"});
  EXPECT_EQ(revealed.exit_code, 0) << revealed.err;
  EXPECT_NE(revealed.out.find("a-value"), std::string::npos) << revealed.out;
  EXPECT_EQ(world.BimAs(reader, {"env", "list", world.b(), "--reveal"}).exit_code, 3) << "a's reader cannot read b";
  CommandResult admin_reveal = world.server().Bim({"env", "list", world.b(), "--reveal", "--json"});
  EXPECT_NE(admin_reveal.out.find(world.secret_env()), std::string::npos);
  json audit = world.server().Bim({"audit", "--json", "--limit", "100"}).Json();
  int reveals = 0;
  for (const auto& e : audit["entries"])
    if (e.value("action", "") == "env.reveal" && e.value("result", "") == "ok") ++reveals;
  EXPECT_EQ(reveals, 2) << audit.dump();
  // A token that may not read secrets cannot make one that may.
  CommandResult plain = world.server().Bim({"token", "create", "--name", "plain-" + UniqueSuffix(), "--json"});
  std::string plain_token = plain.Json().value("token", "");
  CommandResult escalate = world.BimAs(plain_token, {"token", "create", "--app", world.a(), "--read-secrets"});
  EXPECT_EQ(escalate.exit_code, 3) << escalate.err;

  // The published env digest is keyed: it is not the hash anyone could recompute from a guess.
  json releases = world.server().Bim({"releases", world.b(), "--json"}).Json();
  ASSERT_FALSE(releases["releases"].empty()) << releases.dump();
  std::string digest = releases["releases"][0].value("env_digest", "");
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_NE(digest, UnkeyedDigest({{"SECRET_B", world.secret_env()}}));

  // A destroyed app's tokens die with it: a new app of the same name is not theirs.
  std::string c = "tc-" + UniqueSuffix();
  std::string token_c = world.CreateToken("tok-c", c, false);
  ProbeFolder c_folder(c, kProbeDockerfile);
  ASSERT_EQ(world.BimAs(token_c, {"deploy", c_folder.path()}).exit_code, 0);
  ASSERT_EQ(world.server().Bim({"destroy", c, "--yes"}).exit_code, 0);
  ASSERT_EQ(world.server().Bim({"deploy", c_folder.path()}).exit_code, 0);
  EXPECT_EQ(world.BimAs(token_c, {"status", c}).exit_code, 3) << "the old token reaches the new app";

  // Container logs with escape sequences print escaped; bimd's own log cannot be forged by a path.
  ASSERT_EQ(world.Get(world.a(), "/log?raw=%1b%5d0%3bpwned%07%0a").status, 200);
  CommandResult logs = world.BimAs(world.token_a(), {"logs", world.a(), "--tail", "20"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_FALSE(HasRawControl(logs.out)) << "raw escape sequences in `bim logs`";
  EXPECT_NE(logs.out.find("\\x1b]0;pwned\\x07"), std::string::npos) << logs.out;
  Api(port, "GET", "/v1/apps/x%0abimd%3a%20forged%1b%5b2J", world.token_a());
  std::string log = world.server().Log();
  EXPECT_EQ(log.find("\nbimd: forged"), std::string::npos) << "a request path forged a bimd log line";
  EXPECT_FALSE(HasRawControl(log)) << "raw escape sequences in bimd's log";

  // Nothing of b in anything a's token can read; b's own routes answer a's token with 403 (exit 3).
  std::vector<std::vector<std::string>> reads = {
      {"apps", "--json"}, {"status", world.a(), "--json"}, {"releases", world.a(), "--json"},
      {"logs", world.a(), "--json"}, {"env", "list", world.a(), "--json"}, {"audit", "--json"},
      {"history", world.a(), "--json"}};
  ContainerInfo b_live = world.LiveContainer(world.b());
  for (const auto& args : reads) {
    CommandResult r = world.BimAs(world.token_a(), args);
    std::string all = r.out + r.err;
    EXPECT_EQ(all.find(world.secret_env()), std::string::npos) << args[0];
    EXPECT_EQ(all.find(world.secret_file()), std::string::npos) << args[0];
    EXPECT_EQ(all.find(world.b()), std::string::npos) << args[0] << " names b: " << all.substr(0, 300);
    EXPECT_EQ(all.find(b_live.image_id.substr(7, 12)), std::string::npos) << args[0];
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status", world.b()}, {"releases", world.b()}, {"logs", world.b()}, {"env", "list", world.b()},
           {"history", world.b()}, {"rollback", world.b()}, {"destroy", world.b(), "--yes"}})
    EXPECT_EQ(world.BimAs(world.token_a(), args).exit_code, 3) << args[0] << " " << args[1];
  for (const std::string& out : world.a_outputs()) {
    EXPECT_EQ(out.find(world.secret_env()), std::string::npos);
    EXPECT_EQ(out.find(world.secret_file()), std::string::npos);
  }
  HttpResult a_env = world.Get(world.a(), "/env");
  EXPECT_EQ(a_env.body.find(world.secret_env()), std::string::npos) << "a's container sees b's env";
  EXPECT_EQ(world.Get(world.b(), "/healthz").status, 200) << "b still serves";

  // The data dir is private, also after someone loosened it: bimd fixes it at every start.
  std::vector<std::string> loose = Loose(world.server().data_dir(), false);
  EXPECT_TRUE(loose.empty()) << loose.size() << " loose, e.g. " << loose[0];
  chmod(world.server().data_dir().c_str(), 0755);
  chmod((world.server().data_dir() + "/bim.db").c_str(), 0644);
  world.RestartServer();
  loose = Loose(world.server().data_dir(), true);
  EXPECT_TRUE(loose.empty()) << loose.size() << " loose, e.g. " << loose[0];
  EXPECT_EQ(world.Get(world.b(), "/healthz").status, 200);

  // Last (the world's admin token stops working): the admin token rotates.
  std::string old_token = world.server().token();
  CommandResult rotated = world.server().Bim({"token", "rotate-admin", "--json"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  std::string fresh = rotated.Json().value("token", "");
  EXPECT_TRUE(fresh.starts_with("bim_")) << rotated.out;
  EXPECT_NE(fresh, old_token);
  EXPECT_EQ(Api(port, "GET", "/v1/apps", old_token).status, 401);
  EXPECT_EQ(Api(port, "GET", "/v1/apps", fresh).status, 200);
  std::string file;
  std::getline(std::ifstream(world.server().data_dir() + "/admin.token"), file);
  EXPECT_EQ(file, fresh) << "admin.token holds the new token";
  json last = json::parse(Api(port, "GET", "/v1/audit?limit=1", fresh).body, nullptr, false);
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last["entries"][0].value("action", ""), "token.rotate");
}

}  // namespace
}  // namespace bim::testing
