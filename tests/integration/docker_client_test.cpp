// DockerClient against the real dockerd (no mocks). Images are built FROM scratch around the static
// hello-server binary, since no registry is reachable. Every container and image a test makes carries
// the label im.backend.bim.test=<run id> and a unique name, and TearDown removes them pass or fail.
#include "docker/docker_client.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/random.h"
#include "support/context_tar.h"

namespace bim {
namespace {

constexpr const char* kTestLabel = "im.backend.bim.test";

// One id per test process, the value of every test resource's label.
const std::string& RunId() {
  static const std::string id = RandomHex(6);
  return id;
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// GET http://127.0.0.1:<port><path>; returns the HTTP status, 0 if the connection failed.
long HttpGet(int port, const std::string& path, std::string* body) {
  body->clear();
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 2L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return status;
}

bool Contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

class DockerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    suffix_ = RandomHex(4);
    char dir[] = "/tmp/bim-docker-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    temp_dir_ = dir;
    Status ping = docker_.Ping();
    ASSERT_TRUE(ping.ok()) << ping.message();
  }

  void TearDown() override {
    std::vector<ContainerInfo> containers;
    Status s = docker_.ListContainers(TestLabels(), /*all=*/true, &containers);
    EXPECT_TRUE(s.ok()) << s.message();
    for (const ContainerInfo& c : containers) {
      Status rm = docker_.RemoveContainer(c.id, /*force=*/true);
      EXPECT_TRUE(rm.ok() || rm.IsNotFound()) << rm.message();
    }
    for (const std::string& tag : tags_) {
      Status rm = docker_.RemoveImage(tag, /*force=*/true);
      EXPECT_TRUE(rm.ok() || rm.IsNotFound()) << rm.message();
    }
    // Anything labelled but untracked (e.g. a tag a test already removed while another tag remains).
    std::vector<ImageInfo> images;
    if (docker_.ListImages(TestLabels(), &images).ok()) {
      for (const ImageInfo& image : images) (void)docker_.RemoveImage(image.id, /*force=*/true);
    }
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
  }

  static Labels TestLabels() { return {{kTestLabel, RunId()}}; }
  std::string Name(const std::string& what) const { return "bim-test-" + suffix_ + "-" + what; }

  // Builds the hello-server image under a fresh tag (tracked for TearDown).
  Status BuildHello(std::string* tag, std::string* image_id, std::vector<std::string>* output = nullptr) {
    std::string tar = temp_dir_ + "/context.tar", error;
    if (!testing::WriteHelloContextTar(tar, &error)) return Status::Internal(error);
    *tag = "bim-test/hello:" + suffix_ + "-" + std::to_string(tags_.size());
    tags_.push_back(*tag);
    BuildOptions options;
    options.context_tar_path = tar;
    options.tag = *tag;
    options.labels = TestLabels();
    options.labels["im.backend.bim.app"] = "hello";
    return docker_.BuildImage(
        options, [output](std::string_view line) { if (output) output->emplace_back(line); }, image_id);
  }

  ContainerSpec HelloSpec(const std::string& image, const std::string& what) const {
    ContainerSpec spec;
    spec.name = Name(what);
    spec.image = image;
    spec.labels = TestLabels();
    spec.restart_policy = "no";
    spec.stop_timeout_seconds = 2;
    return spec;
  }

  std::vector<std::string> Logs(const std::string& id) {
    std::vector<std::string> lines;
    Status s = docker_.ContainerLogs(id, -1, false, [&](std::string_view l) { lines.emplace_back(l); });
    EXPECT_TRUE(s.ok()) << s.message();
    return lines;
  }

  DockerClient docker_;
  std::string suffix_;
  std::string temp_dir_;
  std::vector<std::string> tags_;
};

TEST_F(DockerClientTest, PingAnswers) { EXPECT_TRUE(docker_.Ping().ok()); }

TEST_F(DockerClientTest, UnreachableSocketIsUnavailable) {
  DockerClient missing(temp_dir_ + "/no-such-docker.sock");
  Status s = missing.Ping();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.message();
  EXPECT_NE(s.message().find("cannot reach dockerd at " + missing.socket_path()), std::string::npos);
  EXPECT_NE(s.message().find("dockerd &"), std::string::npos) << s.message();
  ContainerInfo info;
  EXPECT_EQ(missing.InspectContainer("x", &info).code(), Code::kUnavailable);
}

TEST_F(DockerClientTest, BuildReportsOutputIdAndLabels) {
  std::string tag, id;
  std::vector<std::string> output;
  Status s = BuildHello(&tag, &id, &output);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(id.rfind("sha256:", 0), 0u) << id;
  EXPECT_TRUE(Contains(output, "Step 1/")) << ::testing::PrintToString(output);
  EXPECT_TRUE(Contains(output, "FROM scratch"));
  for (const std::string& line : output) EXPECT_EQ(line.find('\n'), std::string::npos) << line;

  ImageInfo image;
  ASSERT_TRUE(docker_.InspectImage(tag, &image).ok());
  EXPECT_EQ(image.id, id);
  EXPECT_NE(std::find(image.tags.begin(), image.tags.end(), tag), image.tags.end());
  EXPECT_EQ(image.labels[kTestLabel], RunId());
  EXPECT_EQ(image.labels["im.backend.bim.app"], "hello");
  EXPECT_GT(image.size, 0);

  std::vector<ImageInfo> images;
  ASSERT_TRUE(docker_.ListImages({{kTestLabel, RunId()}, {"im.backend.bim.app", ""}}, &images).ok());
  EXPECT_TRUE(std::any_of(images.begin(), images.end(), [&](const ImageInfo& i) { return i.id == id; }));
  ASSERT_TRUE(docker_.ListImages({{kTestLabel, "no-such-run"}}, &images).ok());
  EXPECT_TRUE(images.empty());
}

TEST_F(DockerClientTest, BuildWithBadDockerfileFailsWithDockersMessage) {
  std::string tar = temp_dir_ + "/bad.tar", error;
  ASSERT_TRUE(testing::WriteContextTar(tar, {{"Dockerfile", "FROM scratch\nCOPY missing-file /x\n"}}, &error))
      << error;
  BuildOptions options;
  options.context_tar_path = tar;
  options.tag = "bim-test/bad:" + suffix_;
  options.labels = TestLabels();
  tags_.push_back(options.tag);
  std::vector<std::string> output;
  std::string id;
  Status s = docker_.BuildImage(options, [&](std::string_view l) { output.emplace_back(l); }, &id);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.message();
  EXPECT_NE(s.message().find("missing-file"), std::string::npos) << s.message();
  EXPECT_TRUE(Contains(output, "COPY missing-file /x")) << ::testing::PrintToString(output);
}

TEST_F(DockerClientTest, CancelledBuildReturnsCancelled) {
  std::string tar = temp_dir_ + "/context.tar", error, id;
  ASSERT_TRUE(testing::WriteHelloContextTar(tar, &error)) << error;
  BuildOptions options;
  options.context_tar_path = tar;
  options.tag = "bim-test/cancelled:" + suffix_;
  options.labels = TestLabels();
  tags_.push_back(options.tag);
  Status s = docker_.BuildImage(options, nullptr, &id, [] { return true; });
  EXPECT_EQ(s.code(), Code::kCancelled) << s.message();
}

TEST_F(DockerClientTest, ContainerLifecycle) {
  std::string tag, image_id;
  Status s = BuildHello(&tag, &image_id);
  ASSERT_TRUE(s.ok()) << s.message();

  ContainerSpec spec = HelloSpec(tag, "web");
  spec.env = {"GREETING=hi-" + suffix_, "APP_VERSION=v1"};
  std::string id;
  s = docker_.CreateContainer(spec, &id);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(id.empty());
  std::string other;
  EXPECT_EQ(docker_.CreateContainer(spec, &other).code(), Code::kConflict);  // name taken

  ASSERT_TRUE(docker_.StartContainer(id).ok());
  EXPECT_TRUE(docker_.StartContainer(id).ok());  // already running: fine
  ContainerInfo info;
  ASSERT_TRUE(docker_.InspectContainer(spec.name, &info).ok());
  EXPECT_EQ(info.id, id);
  EXPECT_EQ(info.name, spec.name);
  EXPECT_EQ(info.image, tag);
  EXPECT_EQ(info.image_id, image_id);
  EXPECT_TRUE(info.running);
  EXPECT_EQ(info.state, "running");
  EXPECT_FALSE(info.started_at.empty());
  EXPECT_EQ(info.labels[kTestLabel], RunId());
  ASSERT_GT(info.host_port, 0);

  std::string body;
  long status = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    if ((status = HttpGet(info.host_port, "/", &body)) == 200) break;
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, "Hello from bim! hi-" + suffix_ + "\n");
  EXPECT_TRUE(Contains(Logs(id), "hello-server: listening on port 8080"));
  std::vector<std::string> last;
  ASSERT_TRUE(docker_.ContainerLogs(id, 1, false, [&](std::string_view l) { last.emplace_back(l); }).ok());
  EXPECT_EQ(last.size(), 1u);

  std::vector<ContainerInfo> listed;
  ASSERT_TRUE(docker_.ListContainers(TestLabels(), false, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
  EXPECT_EQ(listed[0].name, spec.name);
  EXPECT_EQ(listed[0].image_id, image_id);
  EXPECT_TRUE(listed[0].running);
  EXPECT_EQ(listed[0].host_port, info.host_port);
  EXPECT_EQ(listed[0].labels[kTestLabel], RunId());

  // The image is in use: removing it without force is refused.
  EXPECT_EQ(docker_.RemoveImage(image_id, false).code(), Code::kConflict);

  ASSERT_TRUE(docker_.StopContainer(id, 2).ok());
  EXPECT_TRUE(docker_.StopContainer(id, 2).ok());  // already stopped: fine
  ASSERT_TRUE(docker_.InspectContainer(id, &info).ok());
  EXPECT_FALSE(info.running);
  EXPECT_EQ(info.state, "exited");
  EXPECT_EQ(info.host_port, 0);
  ASSERT_TRUE(docker_.ListContainers(TestLabels(), false, &listed).ok());
  EXPECT_TRUE(listed.empty());
  ASSERT_TRUE(docker_.ListContainers(TestLabels(), true, &listed).ok());
  EXPECT_EQ(listed.size(), 1u);

  ASSERT_TRUE(docker_.RemoveContainer(id, false).ok());
  EXPECT_TRUE(docker_.InspectContainer(id, &info).IsNotFound());
  ASSERT_TRUE(docker_.RemoveImage(tag, false).ok());
  ImageInfo image;
  EXPECT_TRUE(docker_.InspectImage(tag, &image).IsNotFound());
}

TEST_F(DockerClientTest, ExitedContainerReportsExitCode) {
  std::string tag, image_id;
  Status s = BuildHello(&tag, &image_id);
  ASSERT_TRUE(s.ok()) << s.message();
  ContainerSpec spec = HelloSpec(image_id, "crash");
  spec.env = {"EXIT_AFTER_MS=300"};
  std::string id;
  ASSERT_TRUE(docker_.CreateContainer(spec, &id).ok());
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  ContainerInfo info;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    ASSERT_TRUE(docker_.InspectContainer(id, &info).ok());
    if (info.state == "exited") break;
  }
  EXPECT_EQ(info.state, "exited");
  EXPECT_FALSE(info.running);
  EXPECT_EQ(info.exit_code, 3);
  EXPECT_EQ(info.restart_count, 0);
  EXPECT_FALSE(info.finished_at.empty());
  std::vector<std::string> logs = Logs(id);
  EXPECT_TRUE(Contains(logs, "hello-server: listening")) << ::testing::PrintToString(logs);
  EXPECT_TRUE(Contains(logs, "exiting as EXIT_AFTER_MS asked"));  // stderr, demultiplexed
}

TEST_F(DockerClientTest, FollowedLogsEndWhenCancelled) {
  std::string tag, image_id;
  Status s = BuildHello(&tag, &image_id);
  ASSERT_TRUE(s.ok()) << s.message();
  std::string id;
  ASSERT_TRUE(docker_.CreateContainer(HelloSpec(tag, "follow"), &id).ok());
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  bool saw_listening = false;
  auto start = std::chrono::steady_clock::now();
  s = docker_.ContainerLogs(
      id, -1, /*follow=*/true,
      [&](std::string_view l) { saw_listening |= l.find("listening") != std::string_view::npos; },
      [&] { return saw_listening || std::chrono::steady_clock::now() - start > std::chrono::seconds(10); });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(saw_listening);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

TEST_F(DockerClientTest, MissingContainerAndImageAreNotFound) {
  std::string missing = Name("missing");
  ContainerInfo info;
  EXPECT_TRUE(docker_.InspectContainer(missing, &info).IsNotFound());
  EXPECT_TRUE(docker_.StartContainer(missing).IsNotFound());
  EXPECT_TRUE(docker_.StopContainer(missing, 1).IsNotFound());
  EXPECT_TRUE(docker_.RemoveContainer(missing, true).IsNotFound());
  EXPECT_TRUE(docker_.ContainerLogs(missing, 10, false, nullptr).IsNotFound());
  ImageInfo image;
  EXPECT_TRUE(docker_.InspectImage("bim-test/missing:" + suffix_, &image).IsNotFound());
  EXPECT_TRUE(docker_.RemoveImage("bim-test/missing:" + suffix_, false).IsNotFound());

  ContainerSpec spec = HelloSpec("bim-test/missing:" + suffix_, "no-image");
  spec.env = {"SECRET_TOKEN=s3cr3t-" + suffix_};
  std::string id;
  Status s = docker_.CreateContainer(spec, &id);
  EXPECT_TRUE(s.IsNotFound()) << s.message();
  EXPECT_EQ(s.message().find("s3cr3t"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace bim
