// What a release runs: which Compose service gets HTTP on which port, the env each service gets, how
// a service is replaced, and what counts as "changed" (the digest).
#include "core/app_services.h"

#include <gtest/gtest.h>

#include "core/deploy_plan.h"

namespace bim {
namespace {

std::string Digest(const EnvList& env) { return EnvDigest(env, "test key"); }

ComposeProject Project(const std::string& yaml) {
  ComposeSource in;
  in.text = yaml;
  ComposeProject p;
  Status s = ParseCompose(in, &p);
  EXPECT_TRUE(s.ok()) << s.message();
  return p;
}

const std::string kShop = R"(services:
  web:
    build: .
    ports: ["8080:8080"]
    environment: {GREETING: from-file, LEVEL: web}
  admin:
    build: ./admin
    expose: ["9000"]
  worker:
    build: ./worker
    depends_on: [db]
  db:
    image: postgres:16
    volumes: [data:/var/lib/data]
    expose: [5432]
volumes: {data: }
)";

AppConfig Config() {
  AppConfig c;
  c.app = "shop";
  c.service = "web";
  c.health.path = "/healthz";
  return c;
}

TEST(AppServicesTest, TheMainServiceGetsTheAppsNameAndItsOnePortAndEveryServiceTheAppEnv) {
  AppServices app;
  Status s = ComposeAppServices(Config(), Project(kShop), {{"GREETING", "from-env"}, {"SECRET", "x"}}, &app);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(app.services.size(), 4u);
  const ServiceSpec* web = FindService(app, "web");
  ASSERT_NE(web, nullptr);
  EXPECT_TRUE(web->http.main);
  EXPECT_EQ(web->http.port, 8080);
  EXPECT_EQ(web->http.health_path, "/healthz");
  EXPECT_EQ(web->env, (EnvList{{"GREETING", "from-env"}, {"LEVEL", "web"}, {"SECRET", "x"}}))
      << "the app's env (bim env set, .env) is laid over the file's";
  const ServiceSpec* db = FindService(app, "db");
  EXPECT_EQ(db->http.port, 0) << "exposed for the app's own network, not routed";
  EXPECT_FALSE(db->build);
  EXPECT_EQ(db->image, "postgres:16");
  EXPECT_TRUE(db->stop_first) << "a service that owns volumes is replaced stop-first";
  EXPECT_FALSE(FindService(app, "worker")->stop_first);
  EXPECT_EQ(FindService(app, "worker")->depends_on, std::vector<std::string>{"db"});
  EXPECT_EQ(FindService(app, "worker")->restart_policy, "unless-stopped");
  EXPECT_EQ(app.volumes, std::vector<std::string>{"data"});
}

TEST(AppServicesTest, WhenTheFileDoesNotSayWhichServiceServesHttpTheErrorSaysHowToChoose) {
  AppConfig c = Config();
  c.service.clear();
  AppServices app;
  Status s = ComposeAppServices(c, Project(kShop), {}, &app);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("services web, admin, db all list ports: set service = \"NAME\" in bim.toml"), std::string::npos)
      << s.message();
  s = ComposeAppServices(c, Project("services:\n  worker: {image: x}\n"), {}, &app);
  EXPECT_NE(s.message().find("no service of the Compose file lists a port"), std::string::npos) << s.message();
  c.service = "web";
  s = ComposeAppServices(c, Project("services:\n  web: {image: x, expose: [80, 443]}\n"), {}, &app);
  EXPECT_NE(s.message().find("service web lists ports 80, 443; set port = N in bim.toml"), std::string::npos) << s.message();
  c.port = 443;
  c.port_set = true;
  ASSERT_TRUE(ComposeAppServices(c, Project("services:\n  web: {image: x, expose: [80, 443]}\n"), {}, &app).ok());
  EXPECT_EQ(app.services[0].http.port, 443);
  c.service = "nope";
  s = ComposeAppServices(c, Project(kShop), {}, &app);
  EXPECT_NE(s.message().find("service = \"nope\" is not a service of the Compose file (it has web, admin, db, worker)"),
            std::string::npos)
      << s.message();
  // A single service with a port needs no bim.toml at all.
  c = AppConfig();
  c.app = "solo";
  ASSERT_TRUE(ComposeAppServices(c, Project("services:\n  api: {image: x, ports: [\"3000\"]}\n  w: {image: y}\n"), {}, &app).ok());
  EXPECT_TRUE(FindService(app, "api")->http.main);
  EXPECT_EQ(FindService(app, "api")->http.port, 3000);
}

TEST(AppServicesTest, RoutesServeOtherServicesOrMoreNamesOfTheMainOne) {
  AppConfig c = Config();
  c.routes = {RouteConfig{"admin", "", 0, "/ready", {"admin.example.com"}}, RouteConfig{"www", "web", 0, "/", {}}};
  AppServices app;
  ASSERT_TRUE(ComposeAppServices(c, Project(kShop), {}, &app).ok());
  const ServiceSpec* admin = FindService(app, "admin");
  EXPECT_EQ(admin->http.port, 9000);
  EXPECT_EQ(admin->http.health_path, "/ready");
  EXPECT_FALSE(admin->http.main);
  EXPECT_EQ(admin->http.routes, std::vector<std::string>{"admin"});
  EXPECT_EQ(admin->http.domains, std::vector<std::string>{"admin.example.com"});
  EXPECT_EQ(FindService(app, "web")->http.routes, std::vector<std::string>{"www"});

  c.routes = {RouteConfig{"www", "web", 9999, "/", {}}};
  Status s = ComposeAppServices(c, Project(kShop), {}, &app);
  EXPECT_NE(s.message().find("service web is routed on port 8080 and on port 9999"), std::string::npos) << s.message();
  c.routes = {RouteConfig{"ghost", "", 0, "/", {}}};
  s = ComposeAppServices(c, Project(kShop), {}, &app);
  EXPECT_NE(s.message().find("routes.ghost names service ghost, which the Compose file does not have"), std::string::npos)
      << s.message();
}

TEST(AppServicesTest, APlainAppIsOneWebServiceAndRefusesComposeOnlySettings) {
  AppConfig c;
  c.app = "hello";
  c.port = 3000;
  c.health.path = "/healthz";
  c.build_args = {{"V", "1"}};
  AppServices app;
  ASSERT_TRUE(PlainAppServices(c, {{"A", "1"}}, &app).ok());
  ASSERT_EQ(app.services.size(), 1u);
  const ServiceSpec& web = app.services[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_TRUE(web.build);
  EXPECT_EQ(web.build_from.context, ".");
  EXPECT_EQ(web.build_from.args.at("V"), "1");
  EXPECT_EQ(web.http.port, 3000);
  EXPECT_TRUE(web.http.main);
  EXPECT_EQ(web.env, (EnvList{{"A", "1"}}));
  c.routes = {RouteConfig{"www", "web", 0, "/", {}}};
  ASSERT_TRUE(PlainAppServices(c, {}, &app).ok());
  EXPECT_EQ(app.services[0].http.routes, std::vector<std::string>{"www"});
  c.routes = {RouteConfig{"admin", "", 0, "/", {}}};
  EXPECT_NE(PlainAppServices(c, {}, &app).message().find("needs a Compose file"), std::string::npos);
  c.routes.clear();
  c.profiles = {"dev"};
  EXPECT_FALSE(PlainAppServices(c, {}, &app).ok());
}

TEST(AppServicesTest, SpecsRoundTripThroughJsonAndTheDigestTracksOnlyWhatTheContainerRuns) {
  AppConfig c = Config();
  c.routes = {RouteConfig{"admin", "", 0, "/", {}}};
  AppServices app;
  ASSERT_TRUE(ComposeAppServices(c, Project(kShop), {{"K", "v"}}, &app).ok());
  for (const ServiceSpec& spec : app.services) {
    ServiceSpec back;
    ASSERT_TRUE(ServiceSpecFromJson(ServiceSpecJson(spec), &back).ok());
    back.env = spec.env;  // env is stored apart, encrypted
    EXPECT_EQ(ServiceSpecJson(back), ServiceSpecJson(spec));
    EXPECT_EQ(ServiceDigest(back, "sha256:1", Digest), ServiceDigest(spec, "sha256:1", Digest));
  }
  ServiceSpec web = *FindService(app, "web");
  std::string digest = ServiceDigest(web, "sha256:1", Digest);
  EXPECT_NE(ServiceDigest(web, "sha256:2", Digest), digest) << "another image";
  ServiceSpec changed = web;
  changed.env.push_back({"NEW", "1"});
  EXPECT_NE(ServiceDigest(changed, "sha256:1", Digest), digest) << "another env";
  changed = web;
  changed.command = {"/other"};
  EXPECT_NE(ServiceDigest(changed, "sha256:1", Digest), digest) << "another command";
  changed = web;
  changed.http.routes.push_back("www");
  changed.http.health_path = "/other";
  changed.depends_on.push_back("db");
  EXPECT_EQ(ServiceDigest(changed, "sha256:1", Digest), digest) << "routing and ordering change nothing that runs";
  EXPECT_FALSE(ServiceSpecFromJson(nlohmann::json{{"name", "x"}}, &changed).ok());
}

TEST(AppServicesTest, ThePlanNamesEveryServicesWorkloadImageRouteHostsAndVolumes) {
  AppConfig c = Config();
  c.routes = {RouteConfig{"admin", "", 0, "/", {"admin.example.com"}}};
  ReleaseInputs in;
  in.config = c;
  in.version = 3;
  in.domain = "apps.test";
  in.instance_id = "i1";
  ASSERT_TRUE(ComposeAppServices(c, Project(kShop), {}, &in.services).ok());
  in.images = {{"worker", "bim/shop:v2-worker"}};
  ReleasePlan p = PlanRelease(in);
  ASSERT_EQ(p.services.size(), 4u);
  std::map<std::string, ServicePlan> by;
  for (const auto& s : p.services) by[s.service] = s;
  EXPECT_EQ(by["web"].workload, "bim-shop-v3");
  EXPECT_EQ(by["web"].image_tag, "bim/shop:v3");
  EXPECT_TRUE(by["web"].build);
  EXPECT_EQ(by["web"].route, "shop");
  EXPECT_EQ(by["web"].server_names, std::vector<std::string>{"shop.apps.test"});
  EXPECT_EQ(by["admin"].workload, "bim-shop-v3-admin");
  EXPECT_EQ(by["admin"].image_tag, "bim/shop:v3-admin");
  EXPECT_EQ(by["admin"].route, "shop.admin");
  EXPECT_EQ(by["admin"].server_names, (std::vector<std::string>{"admin.shop.apps.test", "admin.example.com"}));
  EXPECT_EQ(by["worker"].image_tag, "bim/shop:v2-worker") << "an existing image is reused, not rebuilt";
  EXPECT_FALSE(by["worker"].build);
  EXPECT_EQ(by["worker"].route, "");
  EXPECT_EQ(by["db"].image_tag, "postgres:16");
  EXPECT_FALSE(by["db"].build);
  EXPECT_EQ(by["db"].labels.at(labels::kService), "db");
  EXPECT_EQ(p.container_name, "bim-shop-v3") << "the release's own fields describe its main service";
  EXPECT_EQ(p.container_port, 8080);
  EXPECT_EQ(p.network, "bim-i1-shop");
  EXPECT_EQ(VolumeName("i1", "shop", "data"), "bim-i1-shop.data");
  EXPECT_NE(VolumeName("i1", "a", "b-c"), VolumeName("i1", "a-b", "c")) << "no two apps' volumes share a name";
}

}  // namespace
}  // namespace bim
