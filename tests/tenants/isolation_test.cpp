// Tenants, isolation: app a (with its own token) tries to read app b's image and to reach what is not
// its own, and reports what it got.
//   Images: every way we know to name b's image in a build is refused before the build starts, with a
//   one-line error and exit code 2, while b keeps serving; Docker's build cache does not tell a whether
//   b has a file it guesses.
//   Network: a's container and a's build try b's container, the host's services and published ports and
//   a link-local "metadata" host. Every target is first shown reachable from the host, so a refusal from
//   inside a is the isolation at work, not a target that was never there. A container of a's own
//   network stays reachable, and nginx still reaches every app.
#include <gtest/gtest.h>

#include "base/file_util.h"
#include "tenants/network_targets.h"
#include "tenants/tenant_world.h"

namespace bim::testing {
namespace {

using nlohmann::json;

TEST(TenantsIsolation, AppsCannotReadOtherAppsImagesNorReachWhatIsNotTheirs) {
  TenantWorld world;
  ASSERT_NO_FATAL_FAILURE(world.DeployVictim());
  const std::string b_tag = "bim/" + world.b() + ":v1";
  ContainerInfo b_live = world.LiveContainer(world.b());
  ASSERT_FALSE(b_live.image_id.empty());
  std::string b_id = b_live.image_id.substr(7);  // without "sha256:"

  // a needs no running release for this: every attempt must stop before Docker builds anything.
  struct Attempt {
    std::string what;
    std::string dockerfile;
    std::string toml;
  };
  const std::string steal = "COPY --from=" + b_tag + " /b-secret.txt /stolen\n";
  std::vector<Attempt> attempts = {
      {"FROM by tag", "FROM " + b_tag + "\nCMD [\"/probe\"]\n", ""},
      {"FROM by image id", "FROM " + b_id + "\n", ""},
      {"FROM by sha256 id", "FROM sha256:" + b_id + "\n", ""},
      {"FROM by short id", "FROM " + b_id.substr(0, 12) + "\n", ""},
      {"FROM upper case", "FROM BIM/" + world.b() + ":v1\n", ""},
      {"FROM docker.io", "FROM docker.io/bim/" + world.b() + ":v1\n", ""},
      {"COPY --from", "FROM scratch\n" + steal, ""},
      {"COPY --from by id", "FROM scratch\nCOPY --from=sha256:" + b_id + " /b-secret.txt /stolen\n", ""},
      {"lower-case instruction, upper-case flag", "from scratch\ncopy --FROM=" + b_tag + " /b-secret.txt /x\n", ""},
      {"multi-stage alias", "FROM " + b_tag + " AS base\nFROM scratch\nCOPY --from=base /b-secret.txt /x\n", ""},
      {"global ARG", "ARG BASE=" + b_tag + "\nFROM ${BASE}\n", ""},
      {"ARG pieces", "ARG NS=bim\nARG WHO=" + world.b() + "\nFROM $NS/${WHO}:v1\n", ""},
      {"ARG default form", "ARG X\nFROM ${X:-" + b_tag + "}\n", ""},
      {"build arg from bim.toml", "ARG BASE=scratch\nFROM $BASE\n", "[build.args]\nBASE = \"" + b_tag + "\"\n"},
      {"quoted", "FROM \"" + b_tag + "\"\n", ""},
      {"line continuation", "FROM \\\n  " + b_tag + "\n", ""},
      {"escape directive", "# escape=`\nFROM `\n " + b_tag + "\n", ""},
      {"ONBUILD trigger", "FROM scratch\nONBUILD " + steal, ""},
      {"RUN --mount", "FROM scratch\nRUN --mount=type=bind,from=" + b_tag + ",target=/b [\"/b/probe\"]\n", ""},
      {"ADD from b's published port", "FROM scratch\nADD http://127.0.0.1:1/ /x\n", ""},
  };
  long long t0 = MonotonicMillis();
  for (const Attempt& at : attempts) {
    ProbeFolder a(world.a(), at.dockerfile, at.toml, "", /*with_probe=*/false);
    CommandResult r = world.DeployA(a);
    EXPECT_EQ(r.exit_code, 2) << at.what << ": " << r.err;
    EXPECT_NE(ErrorLine(r.err).find("Dockerfile line"), std::string::npos) << at.what << ": " << r.err;
    EXPECT_EQ(r.err.find("Step 1/"), std::string::npos) << at.what << ": the build must not have started\n" << r.err;
  }

  std::printf("[ figures ] %zu refused builds: %lld ms each on average\n", attempts.size(),
              (MonotonicMillis() - t0) / static_cast<long long>(attempts.size()));

  // The refusals cost b nothing: it serves, with its secret where it was.
  HttpResult b_file = world.Get(world.b(), "/file?path=/b-secret.txt");
  EXPECT_EQ(b_file.status, 200);
  EXPECT_EQ(b_file.body, world.secret_file() + "\n");

  // Docker's cache is per app: a guessing b's file exactly (same base, same COPY) must not get
  // "Using cache" for it, which would confirm the guess.
  ProbeFolder guess(world.a(), "FROM scratch\nCOPY probe /probe\nCOPY b-secret.txt /b-secret.txt\nCMD [\"/probe\"]\n");
  guess.Write("b-secret.txt", world.secret_file() + "\n");
  CommandResult built = world.DeployA(guess);
  EXPECT_EQ(built.exit_code, 0) << built.err;
  size_t step = built.err.find("COPY b-secret.txt");
  ASSERT_NE(step, std::string::npos) << built.err;
  std::string after = built.err.substr(step, 200);
  EXPECT_EQ(after.find("Using cache"), std::string::npos) << "the build cache confirmed a guess of b's file:\n" << after;
  EXPECT_EQ(world.Get(world.b(), "/healthz").status, 200);

  // Network: the guess build is a's live release now, and it serves the probe. The targets, each with
  // the host's own view of it.
  ContainerInfo a_live = world.LiveContainer(world.a());
  ASSERT_EQ(a_live.networks.size(), 1u) << "a's container is on exactly one network, its own";
  ASSERT_EQ(b_live.networks.size(), 1u);
  const std::string a_net = a_live.networks.begin()->first;
  EXPECT_NE(a_net, b_live.networks.begin()->first) << "apps do not share a network";
  EXPECT_NE(a_net, "bridge") << "apps are not on Docker's default bridge";
  DockerClient docker;
  NetworkInfo net;
  ASSERT_TRUE(docker.InspectNetwork(a_net, &net).ok());
  ASSERT_FALSE(net.gateway.empty());
  HostListener listener(net.gateway);  // a service of the host, on the address a's containers see
  ASSERT_GT(listener.port(), 0);
  LinkLocalHost metadata;
  Sibling sibling(world.server().instance(), a_live.image_id, a_net);
  ASSERT_FALSE(sibling.ip().empty()) << "the sibling container did not start";

  const std::string own = sibling.ip() + ":8080";
  // The sibling is started, not yet listening: wait until the host (which reaches app containers, see
  // below) connects, so a "refused" from a's container can only mean the network said no.
  ASSERT_TRUE(Eventually([&] { return HostReach(own) == "open"; }, 20)) << "the sibling never listened on " << own;
  std::map<std::string, std::string> foreign = {
      {"app b's container", b_live.networks.begin()->second + ":8080"},
      {"a host service on a's gateway", net.gateway + ":" + std::to_string(listener.port())},
      {"app b's published port on a's gateway", net.gateway + ":" + std::to_string(b_live.host_port)},
      {"a link-local (metadata) host", metadata.target()},
  };
  ASSERT_TRUE(Eventually([&] { return HostReach(metadata.target()) == "open"; }, 10)) << "the test host never listened";
  for (const auto& [what, target] : foreign) {
    if (what.find("published") == std::string::npos) {
      EXPECT_EQ(HostReach(target), "open") << "the host reaches " << what;
    }
  }
  EXPECT_EQ(HostReach("127.0.0.1:" + std::to_string(b_live.host_port)), "open") << "b's port, as nginx uses it";

  // From inside a's running container.
  std::string list = own + ",169.254.169.254:80";
  for (const auto& [what, target] : foreign) list += "," + target;
  HttpResult reached = world.Get(world.a(), "/reach?t=" + list);
  std::printf("[ figures ] what a's container reached: %s\n", reached.body.c_str());
  ASSERT_EQ(reached.status, 200) << reached.error;
  json report = json::parse(reached.body, nullptr, false);
  ASSERT_TRUE(report.is_object()) << reached.body;
  EXPECT_EQ(report.value(own, ""), "open") << "a's container reaches a container of its own network: " << reached.body;
  for (const auto& [what, target] : foreign)
    EXPECT_NE(report.value(target, "open"), "open") << "a's container reached " << what << " (" << target << "): " << reached.body;

  // From inside a's build: the same paths, tried by a RUN step, reported in a file of the image.
  std::string run = "RUN [\"/probe\", \"reach\", \"/reach-report\", \"" + own + "\"";
  for (const auto& [what, target] : foreign) run += ", \"" + target + "\"";
  ProbeFolder building(world.a(), "FROM scratch\nCOPY probe /probe\n" + run + "]\nCMD [\"/probe\"]\n");
  CommandResult second = world.DeployA(building);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  HttpResult build_report = world.Get(world.a(), "/file?path=/reach-report");
  ASSERT_EQ(build_report.status, 200);
  std::printf("[ figures ] what a's build reached:\n%s", build_report.body.c_str());
  EXPECT_NE(build_report.body.find(own + " open"), std::string::npos) << "the build reaches a's own network:\n"
                                                                      << build_report.body;
  for (const auto& [what, target] : foreign) {
    EXPECT_NE(build_report.body.find(target + " "), std::string::npos) << build_report.body;
    EXPECT_EQ(build_report.body.find(target + " open"), std::string::npos) << "a's build reached " << what << ":\n"
                                                                         << build_report.body;
  }

  // nginx still reaches every app.
  EXPECT_EQ(world.Get(world.a(), "/healthz").status, 200);
  EXPECT_EQ(world.Get(world.b(), "/healthz").status, 200);
  // a's own next build reuses a's own steps: the cache still works within one app.
  EXPECT_NE(second.err.find("Using cache"), std::string::npos) << second.err;
  for (const std::string& out : world.a_outputs()) {
    EXPECT_EQ(out.find(world.secret_env()), std::string::npos);
    EXPECT_EQ(out.find(world.secret_file()), std::string::npos);
  }
}

}  // namespace
}  // namespace bim::testing
