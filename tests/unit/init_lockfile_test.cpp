// `bim init` on each lockfile kind: the Dockerfile installs with the package manager the lockfile
// belongs to, in its frozen mode, copies the lockfile before installing, and runs the app directly
// (exec form, no `npm start`) so SIGTERM reaches it; CI installs the same way. Also: naming from ".",
// ".." and --app, and generated comments that stay true.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/app_folder.h"
#include "core/stack_detect.h"
#include "core/app_config.h"
#include "unit/init_fixture.h"

namespace bim {
namespace {

namespace fs = std::filesystem;

struct LockCase {
  std::string name;
  std::map<std::string, std::string> files;
  std::vector<std::string> dockerfile_has;  // lines (or parts of lines) the Dockerfile must hold
  std::string ci_install;                   // the install command the GitHub workflow must run
};

std::vector<LockCase> LockCases() {
  const std::string pkg = R"({"name":"x","scripts":{"start":"node server.js"}})";
  return {
      {"npm", {{"package.json", pkg}, {"package-lock.json", "{}"}, {"server.js", ""}},
       {"COPY package.json package-lock.json ./", "RUN npm ci --omit=dev"}, "npm ci"},
      {"npm-shrinkwrap", {{"package.json", pkg}, {"npm-shrinkwrap.json", "{}"}, {"server.js", ""}},
       {"COPY package.json npm-shrinkwrap.json ./", "RUN npm ci --omit=dev"}, "npm ci"},
      {"yarn", {{"package.json", pkg}, {"yarn.lock", "# yarn lockfile v1\n\n\n"}, {"server.js", ""}},
       {"COPY package.json yarn.lock ./", "RUN corepack enable && yarn install --frozen-lockfile --production"},
       "corepack enable && yarn install --frozen-lockfile"},
      {"yarn-berry",
       {{"package.json", pkg}, {"yarn.lock", "__metadata:\n  version: 8\n"}, {".yarnrc.yml", "nodeLinker: node-modules\n"},
        {"server.js", ""}},
       {"COPY package.json yarn.lock .yarnrc.yml ./", "RUN corepack enable && yarn install --immutable"},
       "corepack enable && yarn install --immutable"},
      {"pnpm", {{"package.json", pkg}, {"pnpm-lock.yaml", "lockfileVersion: '9.0'\n"}, {"server.js", ""}},
       {"COPY package.json pnpm-lock.yaml ./", "RUN corepack enable && pnpm install --frozen-lockfile --prod"},
       "corepack enable && pnpm install --frozen-lockfile"},
      {"node-no-lockfile", {{"package.json", pkg}, {"server.js", ""}},
       {"COPY package.json ./", "RUN npm install --omit=dev"}, "npm install"},
      {"uv", {{"pyproject.toml", "[project]\nname = \"x\"\n"}, {"uv.lock", "version = 1\n"}, {"app.py", ""}},
       {"COPY pyproject.toml uv.lock ./", "uv sync --frozen --no-dev --no-install-project",
        "ENV UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH"},
       "pip install uv && uv sync --frozen"},
      {"poetry", {{"pyproject.toml", "[tool.poetry]\nname = \"x\"\n"}, {"poetry.lock", "# lock\n"}, {"app.py", ""}},
       {"COPY pyproject.toml poetry.lock ./", "poetry install --no-root --only main"},
       "pip install poetry && poetry install --no-root --no-interaction"},
      {"pipenv", {{"Pipfile", "[packages]\nflask = \"*\"\n"}, {"Pipfile.lock", "{}"}, {"app.py", ""}},
       {"COPY Pipfile Pipfile.lock ./", "RUN pip install --no-cache-dir pipenv && pipenv install --deploy --system"},
       "pip install pipenv && pipenv install --deploy --dev"},
      {"requirements", {{"requirements.txt", "flask==3.0.0\n"}, {"app.py", ""}},
       {"COPY requirements.txt ./", "RUN pip install --no-cache-dir -r requirements.txt"},
       "pip install -r requirements.txt"},
      {"requirements-prod",
       {{"requirements-dev.txt", "pytest\n"}, {"requirements-prod.txt", "flask\n"}, {"app.py", ""}},
       {"COPY requirements-prod.txt ./", "RUN pip install --no-cache-dir -r requirements-prod.txt"},
       "pip install -r requirements-prod.txt"},
      {"go-sum", {{"go.mod", "module x\n\ngo 1.22\n"}, {"go.sum", "x v1 h1:abc=\n"}, {"main.go", ""}},
       {"COPY go.mod go.sum ./", "RUN go mod download && go mod verify", "go build -mod=readonly"}, ""},
      {"go-no-sum", {{"go.mod", "module x\n\ngo 1.22\n"}, {"main.go", ""}}, {"COPY go.mod ./"}, ""},
  };
}

TEST_F(InitTest, EachLockfileKindInstallsFrozenWithItsOwnTool) {
  for (const LockCase& c : LockCases()) {
    SCOPED_TRACE(c.name);
    std::string dir = Folder(c.name, c.files);
    InitReport r = Init(dir, false, "", "github");
    std::string dockerfile = Read(dir + "/Dockerfile");
    for (const auto& line : c.dockerfile_has) EXPECT_NE(dockerfile.find(line), std::string::npos) << line << "\n" << dockerfile;
    // The lockfile is never left out of what is copied before installing, and npm's non-frozen
    // install appears only when there is no lockfile at all.
    if (c.name != "node-no-lockfile") {
      EXPECT_EQ(dockerfile.find("RUN npm install"), std::string::npos) << dockerfile;
    }
    if (c.name == "go-no-sum") {
      EXPECT_EQ(dockerfile.find("go.sum"), std::string::npos) << dockerfile;
    }
    EXPECT_EQ(dockerfile.find("\n\n\n"), std::string::npos) << "at most one empty line in a row:\n" << dockerfile;
    EXPECT_EQ(dockerfile.find("COPY package*.json"), std::string::npos);
    if (!c.ci_install.empty()) {
      YAML::Node wf = YAML::LoadFile(dir + "/.github/workflows/deploy.yml");
      bool found = false;
      for (const auto& step : wf["jobs"]["test"]["steps"])
        found |= step["run"] && step["run"].as<std::string>() == c.ci_install;
      EXPECT_TRUE(found) << "CI installs with `" << c.ci_install << "`";
    }
  }
}

TEST_F(InitTest, EveryStackRunsItsAppDirectlyAsTheContainersCommand) {
  // The start script's own command, in exec form: SIGTERM from a release switch reaches the app.
  struct Start {
    std::string script;
    std::string cmd;  // the Dockerfile's CMD line
  };
  for (const Start& s : std::vector<Start>{{"node server.js", R"(CMD ["node","server.js"])"},
                                           {"node --enable-source-maps dist/main.js",
                                            R"(CMD ["node","--enable-source-maps","dist/main.js"])"},
                                           {"next start -p 3000", R"(CMD ["next","start","-p","3000"])"},
                                           {"NODE_ENV=production node a.js", R"(CMD ["npm","start"])"},
                                           {"node a.js && node b.js", R"(CMD ["npm","start"])"}}) {
    SCOPED_TRACE(s.script);
    std::string dir = Folder("start-" + std::to_string(std::hash<std::string>()(s.script)),
                             {{"package.json", nlohmann::json{{"scripts", {{"start", s.script}}}}.dump()}});
    InitReport r = Init(dir);
    std::string dockerfile = Read(dir + "/Dockerfile");
    EXPECT_NE(dockerfile.find("\n" + s.cmd + "\n"), std::string::npos) << dockerfile;
    // Binaries of dependencies (next, nest, ...) are found without npm.
    EXPECT_NE(dockerfile.find("PATH=/app/node_modules/.bin:$PATH"), std::string::npos);
    // When it has to fall back to npm, init says why and how to fix it.
    if (s.cmd.find("npm") != std::string::npos) {
      EXPECT_NE(r.stack.reason.find("SIGTERM"), std::string::npos);
    }
  }
  // Every other stack's CMD is exec form too (a JSON array), never a shell string.
  for (const auto& [name, files] : std::map<std::string, std::map<std::string, std::string>>{
           {"py", {{"requirements.txt", "gunicorn\n"}, {"app.py", ""}}},
           {"go", {{"go.mod", "module x\n"}}},
           {"cm", {{"CMakeLists.txt", "add_executable(s s.cpp)\n"}}}}) {
    std::string dir = Folder(name, files);
    Init(dir);
    std::string dockerfile = Read(dir + "/Dockerfile");
    size_t cmd = dockerfile.find("\nCMD ");
    ASSERT_NE(cmd, std::string::npos) << dockerfile;
    EXPECT_EQ(dockerfile.substr(cmd + 5, 1), "[") << dockerfile;
  }
}

TEST_F(InitTest, PlainInitNamesTheAppAfterTheFolderItRunsIn) {
  const fs::path before = fs::current_path();
  struct Restore {
    fs::path dir;
    ~Restore() { fs::current_path(dir); }
  } restore{before};
  for (const std::string folder : {"my-api", "Billing_Service", "web2"}) {
    SCOPED_TRACE(folder);
    std::string dir = Folder(folder, {{"index.html", "x"}});
    fs::create_directories(dir + "/sub");
    const std::string expected = SanitizeAppName(folder);
    for (const auto& [cwd, arg] : std::vector<std::pair<std::string, std::string>>{
             {dir, "."}, {dir, "./"}, {dir + "/sub", ".."}, {dir + "/sub", "../"}, {dir + "/sub", "../sub/.."}}) {
      SCOPED_TRACE(cwd + " " + arg);
      fs::current_path(cwd);
      EXPECT_EQ(FolderName(arg), folder);
      fs::remove(dir + "/bim.toml");
      InitReport r = Init(arg);
      EXPECT_EQ(r.app, expected);
      EXPECT_EQ(r.dir, dir);
      AppConfig config;
      ASSERT_TRUE(ParseAppConfig(Read(dir + "/bim.toml"), &config).ok());
      EXPECT_EQ(config.app, expected);
      for (const auto& f : r.files) {
        if (f.path == "bim.toml") EXPECT_NE(f.why.find("app \"" + expected + "\" from the folder name"), std::string::npos);
      }
    }
  }
  // --app names it whatever the folder; a folder name with nothing usable asks for --app.
  std::string odd = Folder("___", {{"index.html", "x"}});
  InitOptions o;
  o.dir = odd;
  InitReport r;
  Status s = InitFolder(o, &r);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("--app"), std::string::npos) << s.message();
  o.app = "billing";
  ASSERT_TRUE(InitFolder(o, &r).ok());
  EXPECT_EQ(r.app, "billing");
  o.app = "Not_A_Label";
  EXPECT_EQ(InitFolder(o, &r).code(), Code::kInvalidArgument);
}

TEST_F(InitTest, ForceKeepsWhatBimTomlSaidAndItsCommentsStayTrue) {
  std::string dir = Folder("keep-settings", {{"index.html", "x"},
                                             {"bim.toml", "app = \"shop\"\nport = 9000\n[health]\npath = \"/healthz\"\n"
                                                          "timeout = \"45s\"\n[build.args]\nNGINX_IMAGE = \"my/nginx:1\"\n"}});
  InitReport r = Init(dir, /*force=*/true);
  EXPECT_EQ(Action(r, "bim.toml"), "overwritten");
  std::string toml = Read(dir + "/bim.toml");
  AppConfig config;
  Status s = ParseAppConfig(toml, &config);
  ASSERT_TRUE(s.ok()) << s.message() << "\n" << toml;
  EXPECT_EQ(config.app, "shop");
  EXPECT_EQ(config.port, 9000);
  EXPECT_EQ(config.health.path, "/healthz");
  EXPECT_EQ(config.health.timeout, std::chrono::seconds(45));
  EXPECT_EQ(config.build_args, (std::map<std::string, std::string>{{"NGINX_IMAGE", "my/nginx:1"}}));
  EXPECT_NE(toml.find("http://shop.<domain>/"), std::string::npos) << toml;
  for (const auto& f : r.files) {
    if (f.path == "bim.toml") EXPECT_NE(f.why.find("port 9000 (from bim.toml)"), std::string::npos) << f.why;
  }
}

}  // namespace
}  // namespace bim
