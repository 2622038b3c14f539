// The fixture of the `bim init` unit tests: sample folders in a temp dir, InitFolder on them, and
// helpers to read what it wrote.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "cli/init_writer.h"

namespace bim {

class InitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bim-init-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // A sample folder named `name` holding `files`.
  std::string Folder(const std::string& name, const std::map<std::string, std::string>& files) {
    std::string dir = root_ + "/" + name;
    std::filesystem::create_directories(dir);
    for (const auto& [path, text] : files) Write(dir + "/" + path, text);
    return dir;
  }
  static void Write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static InitReport Init(const std::string& dir, bool force = false, const std::string& agent = "",
                         const std::string& ci = "") {
    InitOptions o;
    o.dir = dir;
    o.force = force;
    o.agent = agent;
    o.ci = ci;
    InitReport r;
    Status s = InitFolder(o, &r);
    EXPECT_TRUE(s.ok()) << s.message();
    return r;
  }
  static std::string Action(const InitReport& r, const std::string& path) {
    for (const auto& f : r.files)
      if (f.path == path) return f.action;
    return "(not listed)";
  }
  // Lines that are Dockerfile instructions (not comments), e.g. all "FROM" lines.
  static int Instructions(const std::string& dockerfile, const std::string& word) {
    std::istringstream in(dockerfile);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.rfind(word + " ", 0) == 0;
    return n;
  }

  std::string root_;
};

}  // namespace bim
