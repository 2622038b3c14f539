#include "core/stack_detect.h"

#include <gtest/gtest.h>

#include "core/validate.h"

namespace bim {
namespace {

FolderListing Listing(std::vector<std::string> files, std::map<std::string, std::string> contents = {}) {
  return FolderListing{std::move(files), std::move(contents)};
}

TEST(StackDetectTest, CmakeFindsTheFirstNonTestExecutable) {
  StackInfo info = DetectStack(Listing(
      {"CMakeLists.txt", "main.cpp", "index.html"},
      {{"CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.16)\nPROJECT(demo CXX)\nadd_executable(unit_tests t.cpp)\n"
        "ADD_EXECUTABLE( hello-server main.cpp)\n"}}));
  EXPECT_EQ(info.stack, Stack::kCmake);
  EXPECT_EQ(info.name, "cmake");
  EXPECT_EQ(info.port, 8080);
  EXPECT_EQ(info.vars["cmake_target"], "hello-server");
  EXPECT_EQ(info.vars["stack_cmake"], "true");
  EXPECT_EQ(info.vars.count("stack_node"), 0u);
  EXPECT_NE(info.reason.find("hello-server"), std::string::npos) << info.reason;
}

TEST(StackDetectTest, CmakeProjectNameStandsInForTheTarget) {
  StackInfo info = DetectStack(
      Listing({"CMakeLists.txt"}, {{"CMakeLists.txt", "project(svc)\nadd_executable(${PROJECT_NAME} a.cc)\n"}}));
  EXPECT_EQ(info.vars["cmake_target"], "svc");
  // No executable at all: the project name, and the reason says it is a guess.
  info = DetectStack(Listing({"CMakeLists.txt"}, {{"CMakeLists.txt", "project(lib)\nadd_library(lib a.cc)\n"}}));
  EXPECT_EQ(info.vars["cmake_target"], "lib");
  EXPECT_NE(info.reason.find("no add_executable"), std::string::npos);
  // A hostile target name never reaches the Dockerfile.
  info = DetectStack(Listing({"CMakeLists.txt"}, {{"CMakeLists.txt", "add_executable(${OTHER} b.cc)\n"
                                                                     "add_executable(-rf c.cc)\n"}}));
  EXPECT_EQ(info.vars["cmake_target"], "app");
}

TEST(StackDetectTest, GoTakesTheVersionFromGoMod) {
  StackInfo info = DetectStack(Listing({"go.mod", "main.go"}, {{"go.mod", "module example.com/x\n\ngo 1.21.5\n"}}));
  EXPECT_EQ(info.stack, Stack::kGo);
  EXPECT_EQ(info.vars["go_image"], "golang:1.21");
  EXPECT_EQ(info.port, 8080);
  info = DetectStack(Listing({"go.mod"}, {{"go.mod", "module x\n"}}));
  EXPECT_EQ(info.vars["go_image"], "golang:1.22");
}

TEST(StackDetectTest, NodeReadsScriptsAndLockfile) {
  StackInfo info = DetectStack(Listing({"package.json", "package-lock.json", "index.html"},
                                       {{"package.json", R"({"scripts":{"start":"node s.js","build":"vite build"}})"}}));
  EXPECT_EQ(info.stack, Stack::kNode);
  EXPECT_EQ(info.port, 3000);
  EXPECT_EQ(info.vars["node_cmd"], R"(["node","s.js"])");  // the start script's own command, not npm
  EXPECT_EQ(info.vars["node_install"], "npm ci");
  EXPECT_EQ(info.vars["node_build"], "true");

  info = DetectStack(Listing({"package.json", "server.js"}, {{"package.json", R"({"name":"x"})"}}));
  EXPECT_EQ(info.vars["node_cmd"], R"(["node","server.js"])");
  EXPECT_EQ(info.vars["node_install"], "npm install");
  EXPECT_EQ(info.vars.count("node_build"), 0u);

  info = DetectStack(Listing({"package.json"}, {{"package.json", "{not json"}}));
  EXPECT_EQ(info.stack, Stack::kNode);
  EXPECT_NE(info.reason.find("not valid JSON"), std::string::npos);
}

TEST(StackDetectTest, PythonPicksTheServer) {
  StackInfo info = DetectStack(
      Listing({"requirements.txt", "app.py", "tests"}, {{"requirements.txt", "Flask==3.0\ngunicorn>=21\n"}}));
  EXPECT_EQ(info.stack, Stack::kPython);
  EXPECT_EQ(info.port, 8000);
  EXPECT_EQ(info.vars["python_cmd"], R"(["gunicorn","--bind","0.0.0.0:8000","app:app"])");
  EXPECT_EQ(info.vars["python_requirements"], "true");
  EXPECT_EQ(info.vars["python_tests"], "true");

  info = DetectStack(Listing({"pyproject.toml", "main.py"}, {{"pyproject.toml", "dependencies = [\"uvicorn\"]\n"}}));
  EXPECT_EQ(info.vars["python_cmd"], R"(["uvicorn","main:app","--host","0.0.0.0","--port","8000"])");
  EXPECT_EQ(info.vars["python_pyproject"], "true");

  info = DetectStack(Listing({"main.py"}));
  EXPECT_EQ(info.stack, Stack::kPython);
  EXPECT_EQ(info.vars["python_cmd"], R"(["python","main.py"])");
}

TEST(StackDetectTest, StaticAndUnknown) {
  StackInfo info = DetectStack(Listing({"index.html", "style.css"}));
  EXPECT_EQ(info.stack, Stack::kStatic);
  EXPECT_EQ(info.port, 8080);
  EXPECT_EQ(info.vars["stack"], "static");

  info = DetectStack(Listing({"README.md", "Makefile"}));
  EXPECT_EQ(info.stack, Stack::kUnknown);
  EXPECT_EQ(info.name, "unknown");
  EXPECT_NE(info.reason.find("package.json"), std::string::npos);
  EXPECT_EQ(info.vars["stack_unknown"], "true");
}

TEST(StackDetectTest, PrecedenceIsCmakeGoNodePythonStatic) {
  EXPECT_EQ(DetectStack(Listing({"go.mod", "package.json", "CMakeLists.txt"})).stack, Stack::kCmake);
  EXPECT_EQ(DetectStack(Listing({"go.mod", "package.json"})).stack, Stack::kGo);
  EXPECT_EQ(DetectStack(Listing({"requirements.txt", "package.json"})).stack, Stack::kNode);
  EXPECT_EQ(DetectStack(Listing({"requirements.txt", "index.html"})).stack, Stack::kPython);
}

TEST(StackDetectTest, SanitizeAppNameMakesDnsLabels) {
  EXPECT_EQ(SanitizeAppName("My_Cool App!"), "my-cool-app");
  EXPECT_EQ(SanitizeAppName("--x--"), "x");
  EXPECT_EQ(SanitizeAppName("héllo"), "h-llo");
  EXPECT_EQ(SanitizeAppName("___"), "app");
  EXPECT_EQ(SanitizeAppName(""), "app");
  std::string long_name(100, 'a');
  long_name[62] = '.';
  EXPECT_EQ(SanitizeAppName(long_name), std::string(62, 'a'));
  for (const char* name : {"My_Cool App!", "--x--", "héllo", "___", "a.b.c", "123"})
    EXPECT_TRUE(ValidateAppName(SanitizeAppName(name)).ok()) << name;
}

}  // namespace
}  // namespace bim
