// Compose files: what bim deploys from them, and what it refuses (by name, with the line and a fix).
#include "core/compose.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace bim {
namespace {

Status Parse(const std::string& yaml, ComposeProject* out, ComposeSource in = {}) {
  in.text = yaml;
  return ParseCompose(in, out);
}

std::string Error(const std::string& yaml, ComposeSource in = {}) {
  ComposeProject p;
  Status s = Parse(yaml, &p, in);
  EXPECT_FALSE(s.ok()) << yaml;
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
  return s.message();
}

const ComposeService& Service(const ComposeProject& p, const std::string& name) {
  for (const auto& s : p.services)
    if (s.name == name) return s;
  ADD_FAILURE() << "no service " << name;
  static ComposeService none;
  return none;
}

TEST(ComposeTest, ARealBackendParsesWithEveryKeyBimDeploys) {
  ComposeSource in;
  in.env_files = {{"worker.env", "QUEUE=jobs\nDEBUG=0\n"}};
  in.variables = {{"DB_PASSWORD", "hunter2"}};
  ComposeProject p;
  Status s = Parse(R"(
version: "3.9"
x-logging: &common
  restart: unless-stopped
services:
  web:
    build: .
    ports: ["8080:8080"]
    environment:
      DATABASE_URL: postgres://app:${DB_PASSWORD}@db/app
      GREETING: hello
    depends_on:
      db:
        condition: service_healthy
  worker:
    <<: *common
    build:
      context: ./worker/
      dockerfile: Dockerfile.worker
      args: [VERSION=2]
    command: /worker --queue "jobs and more" --verbose
    env_file: worker.env
    environment: [DEBUG=1]
    depends_on: [db]
    deploy:
      update_config: {order: stop-first}
  db:
    image: postgres:16
    volumes: ["data:/var/lib/postgresql/data", "conf:/etc/db:ro"]
    healthcheck:
      test: ["CMD", "pg_isready"]
      interval: 5s
      timeout: 1m30s
      retries: 5
      start_period: 500ms
    restart: always
    expose: ["5432"]
    stop_grace_period: 1m
    deploy:
      replicas: 1
      resources:
        limits: {cpus: "0.5", memory: 512m, pids: 100}
volumes:
  data:
  conf: {}
)",
                   &p, in);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(p.services.size(), 3u);
  EXPECT_EQ(p.services[0].name, "db") << "what others depend on starts first";
  EXPECT_EQ(p.services[1].name, "web");
  EXPECT_EQ(p.services[2].name, "worker");
  EXPECT_EQ(p.volumes, (std::vector<std::string>{"conf", "data"}));

  const ComposeService& web = Service(p, "web");
  EXPECT_TRUE(web.has_build);
  EXPECT_EQ(web.build.context, ".");
  EXPECT_EQ(web.ports, std::vector<int>{8080});
  EXPECT_EQ(web.environment, (EnvList{{"DATABASE_URL", "postgres://app:hunter2@db/app"}, {"GREETING", "hello"}}));
  ASSERT_EQ(web.depends_on.size(), 1u);
  EXPECT_TRUE(web.depends_on[0].healthy);

  const ComposeService& worker = Service(p, "worker");
  EXPECT_EQ(worker.build.context, "worker");
  EXPECT_EQ(worker.build.dockerfile, "Dockerfile.worker");
  EXPECT_EQ(worker.build.args.at("VERSION"), "2");
  EXPECT_EQ(worker.command, (std::vector<std::string>{"/worker", "--queue", "jobs and more", "--verbose"}));
  EXPECT_EQ(worker.environment, (EnvList{{"QUEUE", "jobs"}, {"DEBUG", "1"}})) << "environment overrides env_file";
  EXPECT_EQ(worker.restart, "unless-stopped") << "merged from the x- anchor";
  EXPECT_EQ(worker.update_order, "stop-first");

  const ComposeService& db = Service(p, "db");
  EXPECT_FALSE(db.has_build);
  EXPECT_EQ(db.image, "postgres:16");
  ASSERT_EQ(db.volumes.size(), 2u);
  EXPECT_EQ(db.volumes[0], (ComposeVolume{"data", "/var/lib/postgresql/data", false}));
  EXPECT_EQ(db.volumes[1], (ComposeVolume{"conf", "/etc/db", true}));
  EXPECT_TRUE(db.has_healthcheck);
  EXPECT_EQ(db.healthcheck.test, (std::vector<std::string>{"CMD", "pg_isready"}));
  EXPECT_EQ(db.healthcheck.interval, std::chrono::seconds(5));
  EXPECT_EQ(db.healthcheck.timeout, std::chrono::seconds(90));
  EXPECT_EQ(db.healthcheck.start_period, std::chrono::milliseconds(500));
  EXPECT_EQ(db.healthcheck.retries, 5);
  EXPECT_EQ(db.restart, "always");
  EXPECT_EQ(db.ports, std::vector<int>{5432});
  EXPECT_EQ(db.stop_grace_seconds, 60);
  EXPECT_EQ(db.memory_bytes, 512LL << 20);
  EXPECT_EQ(db.nano_cpus, 500'000'000);
  EXPECT_EQ(db.pids, 100);
}

TEST(ComposeTest, EveryOtherKeyIsRefusedByNameWithItsLineAndThePointerToTheTable) {
  std::string m = Error("services:\n  web:\n    image: x\n    networks: [front]\n");
  EXPECT_NE(m.find("compose.yaml line 4: services.web.networks is not supported by bim"), std::string::npos) << m;
  EXPECT_NE(m.find("\"Apps with several services\" in bim's README"), std::string::npos) << m;
  EXPECT_NE(Error("services:\n  web:\n    image: x\n    container_name: web\n").find("services.web.container_name"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x}\nnetworks:\n  front: {}\n").find("networks is not supported"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x}\nsecrets: {}\n").find("secrets is not supported"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, deploy: {placement: {constraints: []}}}\n").find("services.web.deploy.placement"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {build: {context: ., target: prod}}\n").find("services.web.build.target"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, volumes: [d:/d]}\nvolumes:\n  d: {driver: nfs}\n").find("volumes.d.driver"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, healthcheck: {test: [CMD, x], start_interval: 1s}}\n")
                .find("services.web.healthcheck.start_interval"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, deploy: {resources: {reservations: {memory: 1g}}}}\n")
                .find("services.web.deploy.resources.reservations"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x}\nname: shop\n").find("name is not supported"), std::string::npos);
}

TEST(ComposeTest, DataThatWouldBeLostOrReadFromTheWrongMachineIsRefusedWithTheFix) {
  std::string bind = Error("services:\n  db: {image: x, volumes: [\"./data:/var/lib/data\"]}\n");
  EXPECT_NE(bind.find("bind mount"), std::string::npos) << bind;
  EXPECT_NE(bind.find("write NAME:/path and declare NAME under the top-level volumes"), std::string::npos) << bind;
  std::string anonymous = Error("services:\n  db: {image: x, volumes: [/var/lib/data]}\n");
  EXPECT_NE(anonymous.find("anonymous volume"), std::string::npos) << anonymous;
  std::string undeclared = Error("services:\n  db: {image: x, volumes: [data:/d]}\n");
  EXPECT_NE(undeclared.find("uses volume data, which the top-level volumes does not declare"), std::string::npos) << undeclared;
  EXPECT_NE(Error("services:\n  db: {image: x, volumes: [{type: tmpfs, target: /t}]}\n").find("tmpfs is not supported"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  db: {image: x, volumes: [d:relative]}\nvolumes: {d: }\n").find("absolute path"),
            std::string::npos);
}

TEST(ComposeTest, DependenciesAreOrderedAndCyclesOrUnknownNamesRefused) {
  std::string cycle = Error("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n");
  EXPECT_NE(cycle.find("services a, b depend on each other in a cycle"), std::string::npos) << cycle;
  EXPECT_NE(Error("services:\n  a: {image: x, depends_on: [nope]}\n").find("depends on nope, which is not defined"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  a: {image: x, depends_on: [a]}\n").find("depends on itself"), std::string::npos);
  EXPECT_NE(Error("services:\n  a: {image: x, depends_on: {b: {condition: service_completed_successfully}}}\n"
                  "  b: {image: x}\n")
                .find("service_completed_successfully\" is not supported"),
            std::string::npos);
  ComposeProject p;
  ASSERT_TRUE(Parse("services:\n  c: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n  a: {image: x}\n"
                    "  d: {image: x}\n",
                    &p)
                  .ok());
  std::vector<std::string> order;
  for (const auto& s : p.services) order.push_back(s.name);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(ComposeTest, VariablesExpandInValuesAsComposeDoes) {
  ComposeSource in;
  in.variables = {{"A", "1"}, {"EMPTY", ""}};
  ComposeProject p;
  Status s = Parse(R"(services:
  web:
    image: "app:${A}"
    environment:
      PLAIN: $A-x
      DEFAULT: ${MISSING:-fallback}
      COLON_EMPTY: ${EMPTY:-used}
      DASH_EMPTY: ${EMPTY-unused}
      ALT: ${A:+alt}
      NESTED: ${MISSING:-${A}}
      LITERAL: "$$HOME"
      FROM_VARS:
      UNSET_TOO:
)",
                   &p, in);
  ASSERT_TRUE(s.ok()) << s.message();
  const ComposeService& web = p.services[0];
  EXPECT_EQ(web.image, "app:1");
  EXPECT_EQ(web.environment, (EnvList{{"PLAIN", "1-x"},
                                      {"DEFAULT", "fallback"},
                                      {"COLON_EMPTY", "used"},
                                      {"DASH_EMPTY", ""},
                                      {"ALT", "alt"},
                                      {"NESTED", "1"},
                                      {"LITERAL", "$HOME"}}))
      << "FROM_VARS and UNSET_TOO are unset variables: left out";
  std::string required = Error("services:\n  web: {image: \"${TAG:?set TAG first}\"}\n", in);
  EXPECT_NE(required.find("variable TAG is required (set TAG first); set it with `bim env set` or in .env"),
            std::string::npos)
      << required;
  in.require_variables = false;
  EXPECT_TRUE(Parse("services:\n  web: {image: \"x${TAG:?set TAG first}\"}\n", &p, in).ok()) << "the CLI's early check";
  EXPECT_NE(Error("services:\n  web: {image: \"x$\"}\n").find("lone '$'"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: \"${A\"}\n").find("unclosed ${"), std::string::npos);
}

TEST(ComposeTest, ProfilesLeaveServicesOutUnlessActive) {
  const std::string yaml = "services:\n  web: {image: x}\n  debug: {image: x, profiles: [dev]}\n";
  ComposeProject p;
  ASSERT_TRUE(Parse(yaml, &p).ok());
  ASSERT_EQ(p.services.size(), 1u);
  ComposeSource in;
  in.profiles = {"dev"};
  ASSERT_TRUE(Parse(yaml, &p, in).ok());
  EXPECT_EQ(p.services.size(), 2u);
  std::string m = Error("services:\n  web: {image: x, depends_on: [debug]}\n  debug: {image: x, profiles: [dev]}\n");
  EXPECT_NE(m.find("whose profile is not active"), std::string::npos) << m;
}

TEST(ComposeTest, PortsGiveTheContainerSideAndRefuseWhatBimCannotRoute) {
  ComposeProject p;
  ASSERT_TRUE(Parse("services:\n  web:\n    image: x\n    ports: [\"127.0.0.1:8080:80/tcp\", 9000, {target: 7000, published: 7001}]\n"
                    "    expose: [\"80\", 6000]\n",
                    &p)
                  .ok());
  EXPECT_EQ(p.services[0].ports, (std::vector<int>{80, 9000, 7000, 6000}));
  EXPECT_NE(Error("services:\n  web: {image: x, ports: [\"53:53/udp\"]}\n").find("not a tcp port"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, ports: [\"8000-8010:8000-8010\"]}\n").find("port range"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, ports: [\"99999\"]}\n").find("not a port 1-65535"), std::string::npos);
}

TEST(ComposeTest, MalformedFilesSayWhereAndWhat) {
  EXPECT_NE(Error("services:\n  web:\n    image: [unclosed\n").find("compose.yaml line"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x}\n  web: {image: y}\n").find("services.web appears twice"), std::string::npos);
  EXPECT_NE(Error("just text\n").find("must be a mapping"), std::string::npos);
  EXPECT_NE(Error("version: '3'\n").find("has no services"), std::string::npos);
  EXPECT_NE(Error("services:\n  Web_1: {image: x}\n").find("service name \"Web_1\""), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {restart: \"on-failure:3\", image: x}\n").find("must be no, always"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {environment: {A: x}}\n").find("needs build (a folder with a Dockerfile) or image"),
            std::string::npos);
  EXPECT_NE(Error("services:\n  web: {build: \"https://github.com/x/y.git\"}\n").find("remote context"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {build: ../elsewhere}\n").find("leaves the app folder"), std::string::npos);
  EXPECT_NE(Error("services:\n  web: {image: x, environment: {\"BAD KEY\": 1}}\n").find("invalid env key"), std::string::npos);
}

TEST(ComposeTest, EnvFilesAreListedForTheCliAndRequiredUnlessSaidOtherwise) {
  std::vector<std::string> files;
  ASSERT_TRUE(ComposeEnvFiles("compose.yaml",
                              "services:\n  a: {image: x, env_file: a.env}\n  b: {image: x, env_file: [a.env, {path: "
                              "b.env, required: false}]}\n",
                              &files)
                  .ok());
  EXPECT_EQ(files, (std::vector<std::string>{"a.env", "b.env"}));
  // Services without env_file (most of them), and list entries without a path, name none.
  ASSERT_TRUE(ComposeEnvFiles("compose.yaml", "services:\n  a: {image: x}\n  b: {image: x, env_file: [{required: false}]}\n",
                              &files)
                  .ok());
  EXPECT_TRUE(files.empty());
  EXPECT_FALSE(ComposeEnvFiles("compose.yaml", "services:\n  a: {image: x, env_file: /etc/passwd}\n", &files).ok());
  EXPECT_FALSE(ComposeEnvFiles("compose.yaml", "services:\n  a: {image: x, env_file: ../up.env}\n", &files).ok());
  EXPECT_NE(Error("services:\n  a: {image: x, env_file: a.env}\n").find("names a.env, which is not in the app folder"),
            std::string::npos);
  ComposeProject p;
  EXPECT_TRUE(Parse("services:\n  a: {image: x, env_file: [{path: a.env, required: false}]}\n", &p).ok());
}

TEST(ComposeTest, ValueSyntaxHelpers) {
  std::vector<std::string> words;
  ASSERT_TRUE(SplitCommand(R"(sh -c 'echo "a b"' "x\"y" c\ d)", &words).ok());
  EXPECT_EQ(words, (std::vector<std::string>{"sh", "-c", "echo \"a b\"", "x\"y", "c d"}));
  EXPECT_FALSE(SplitCommand("echo 'open", &words).ok());
  std::chrono::milliseconds d;
  ASSERT_TRUE(ParseComposeDuration("1h2m3s", &d).ok());
  EXPECT_EQ(d, std::chrono::milliseconds(3723000));
  ASSERT_TRUE(ParseComposeDuration("2.5s", &d).ok());
  EXPECT_EQ(d, std::chrono::milliseconds(2500));
  ASSERT_TRUE(ParseComposeDuration("90", &d).ok());
  EXPECT_EQ(d, std::chrono::seconds(90));
  EXPECT_FALSE(ParseComposeDuration("soon", &d).ok());
  EXPECT_FALSE(ParseComposeDuration("5d", &d).ok());
  int64_t bytes = 0;
  ASSERT_TRUE(ParseComposeBytes("1.5gb", &bytes).ok());
  EXPECT_EQ(bytes, 1610612736);
  ASSERT_TRUE(ParseComposeBytes("100k", &bytes).ok());
  EXPECT_EQ(bytes, 102400);
  EXPECT_FALSE(ParseComposeBytes("lots", &bytes).ok());
}

// Older `bim init` versions wrote a docker-compose.yml for `bim up` (it has keys bim refuses, such as
// networks and labels); deploying such a folder stays a single-app deploy from its Dockerfile.
TEST(ComposeTest, TheFileBimInitWritesIsRecognisedAsBimUpsOwn) {
  const std::string text =
      "# Written by `bim init` for `bim up` (local runs). `bim deploy` ignores this file.\n"
      "services:\n  app:\n    build: .\n    labels: {im.backend.bim.local: \"true\"}\n";
  EXPECT_TRUE(WrittenByBimInit(text));
  EXPECT_FALSE(WrittenByBimInit("services:\n  web:\n    build: .\n"));
  EXPECT_FALSE(WrittenByBimInit("# my backend\nservices: {}\n"));
}

}  // namespace
}  // namespace bim
