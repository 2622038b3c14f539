// What must hold for an app after bimd was killed at any moment and started again: the database,
// nginx and Docker agree, and nothing a crash left half-done survives. Shared by the crash tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "core/deploy_plan.h"
#include "docker/docker_client.h"
#include "support/bimd_harness.h"

namespace bim::testing {

struct Recovery {
  std::string body;          // what GET / must answer; "" = the app must be gone
  int nginx_master = 0;      // the master serving before the crash: it must still be the one (0: unchecked)
  int keep_releases = 5;     // the server's --keep-releases
};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline int NginxMaster(const Bimd& server) { return std::atoi(ReadText(server.data_dir() + "/nginx/nginx.pid").c_str()); }

// Checks, asserting every Docker call succeeded:
//  - GET / through nginx answers want.body (404 if the app must be gone);
//  - no release is left building or starting, and exactly one is live (none if gone);
//  - the app has exactly one container, the live release's, running;
//  - the route (nginx/routes/<app>) points at the live container's port, and only there, and the
//    site (nginx/sites/<app>) exists (neither if gone);
//  - the nginx master is still want.nginx_master;
//  - the app's images are exactly the tags of its newest want.keep_releases releases that went live
//    (plus the live one): failed builds and pruned releases leave no image (none if gone);
//  - no temp file in the nginx dirs, no leftover upload.
inline ::testing::AssertionResult Recovered(const Bimd& server, const std::string& app, const Recovery& want) {
  std::vector<std::string> problems;
  DockerClient docker;
  const Labels mine{{labels::kInstance, server.instance()}, {labels::kApp, app}};
  const std::string site_file = server.data_dir() + "/nginx/sites/" + app;  // "host route" lines
  const std::string route_file = server.data_dir() + "/nginx/routes/" + app;  // "host:port ...\n"

  HttpResult page = server.Get(app);
  if (want.body.empty() ? page.status != 404 : (page.status != 200 || page.body != want.body))
    problems.push_back("GET / answered " + std::to_string(page.status) + " \"" + page.body + "\" " + page.error +
                       ", want " + (want.body.empty() ? "404" : "\"" + want.body + "\""));
  if (want.nginx_master != 0 && NginxMaster(server) != want.nginx_master)
    problems.push_back("the nginx master changed from " + std::to_string(want.nginx_master) + " to " +
                       std::to_string(NginxMaster(server)));

  std::set<std::string> want_tags;
  std::string live_release;
  if (want.body.empty()) {
    if (server.Bim({"status", app}).exit_code != 4) problems.push_back("the app still exists in bimd");
    if (std::filesystem::exists(site_file)) problems.push_back("its site file is still there");
    if (std::filesystem::exists(route_file)) problems.push_back("its route file is still there");
  } else {
    nlohmann::json list = server.Bim({"releases", app, "--json"}).Json();
    if (!list.is_object() || !list["releases"].is_array()) {
      problems.push_back("cannot list releases: " + list.dump());
    } else {
      int kept = 0, live = 0;
      for (const auto& r : list["releases"]) {  // newest first
        std::string status = r.value("status", "");
        if (status == "building" || status == "starting")
          problems.push_back(r.value("release", "") + " is still " + status);
        if (status == "live") {
          ++live;
          live_release = r.value("release", "");
        }
        if ((status == "live" || status == "retired") && (kept++ < want.keep_releases || status == "live"))
          want_tags.insert(r.value("image", ""));
      }
      if (live != 1) problems.push_back(std::to_string(live) + " releases are live");
    }
  }

  // Exactly the live container (a retired one may take a drain grace to go).
  std::vector<ContainerInfo> found;
  Status listed;
  bool containers_ok = Eventually([&] {
    listed = docker.ListContainers(mine, true, &found);
    if (!listed.ok()) return false;
    if (want.body.empty()) return found.empty();
    return found.size() == 1 && found[0].running && found[0].labels[labels::kRelease] == live_release;
  }, 15);
  if (!listed.ok()) {
    problems.push_back("cannot list containers: " + listed.message());
  } else if (!containers_ok) {
    std::string names;
    for (const auto& c : found) names += " " + c.name + (c.running ? "(running)" : "(" + c.state + ")");
    problems.push_back("containers:" + names + ", want " + (want.body.empty() ? "none" : "only " + live_release + "'s"));
  } else if (!want.body.empty()) {
    ContainerInfo info;
    Status s = docker.InspectContainer(found[0].id, &info);
    std::string route = ReadText(route_file);
    if (!s.ok()) problems.push_back("cannot inspect the live container: " + s.message());
    else if (route != "127.0.0.1:" + std::to_string(info.host_port) + "\n")
      problems.push_back("the route file does not point at " + live_release + " (127.0.0.1:" +
                         std::to_string(info.host_port) + "): \"" + route + "\"");
    if (!std::filesystem::exists(site_file)) problems.push_back("its site file is missing");
  }

  std::vector<ImageInfo> images;
  if (Status s = docker.ListImages(mine, &images); !s.ok()) {
    problems.push_back("cannot list images: " + s.message());
  } else {
    std::set<std::string> tags;
    for (const auto& img : images)
      for (const auto& tag : img.tags)
        if (tag.starts_with("bim/" + app + ":")) tags.insert(tag);
    if (tags != want_tags) {
      std::string have, expected;
      for (const auto& t : tags) have += " " + t;
      for (const auto& t : want_tags) expected += " " + t;
      problems.push_back("images:" + have + "; want:" + expected);
    }
  }

  for (const auto& dir : {server.data_dir() + "/nginx", server.data_dir() + "/nginx/sites",
                          server.data_dir() + "/nginx/routes", server.data_dir() + "/uploads"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      if (name.find(".tmp-") != std::string::npos || dir.ends_with("uploads"))
        problems.push_back("left behind: " + e.path().string());
    }
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  std::string text;
  for (const auto& p : problems) text += "\n  - " + p;
  return ::testing::AssertionFailure() << app << " did not recover:" << text;
}

}  // namespace bim::testing
