#include "compose/compose_app.h"

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "docker/docker_client.h"

namespace bim::testing {

namespace fs = std::filesystem;

ComposeBackend::ComposeBackend(const std::string& app) : app_(app) {
  dir_ = (fs::temp_directory_path() / ("bim-compose-" + UniqueSuffix())).string();
  fs::create_directories(dir_ + "/web");
  fs::create_directories(dir_ + "/svc");
  fs::copy_file(BuildPath("examples/hello-server"), dir_ + "/web/hello-server");
  fs::copy_file(BuildPath("tests/compose-service"), dir_ + "/svc/compose-service");
  Write("web/Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCMD [\"/hello-server\"]\n");
  for (const char* role : {"worker", "db"})
    Write(std::string("svc/Dockerfile.") + role, std::string("FROM scratch\nCOPY compose-service /svc\nCOPY ") + role +
                                                     ".version /version\nCMD [\"/svc\", \"" + role + "\"]\n");
  Write("bim.toml", "app = \"" + app + "\"\nservice = \"web\"\n[health]\npath = \"/healthz\"\ntimeout = \"20s\"\n"
                    "[routes.admin]\nservice = \"web\"\n");
  Set(BackendKnobs());
}

ComposeBackend::~ComposeBackend() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void ComposeBackend::Write(const std::string& relative, const std::string& contents) const {
  std::ofstream(dir_ + "/" + relative, std::ios::binary | std::ios::trunc) << contents;
}

void ComposeBackend::Set(const BackendKnobs& k) {
  Write("svc/worker.version", k.worker_version + "\n");
  Write("svc/db.version", k.db_version + "\n");
  Write("compose.yaml", R"(services:
  web:
    build: ./web
    ports: ["8080"]
    environment:
      GREETING: ")" + k.greeting + R"("
      HEALTH_STATUS: ")" + std::to_string(k.web_health) + R"("
    depends_on: [db]
)" + k.extra_web_keys + R"(  worker:
    build: {context: ./svc, dockerfile: Dockerfile.worker}
    environment:
      FAIL_AT_START: ")" + std::to_string(k.worker_fails) + R"("
    depends_on:
      db: {condition: service_started}
  db:
    build: {context: ./svc, dockerfile: Dockerfile.db}
    volumes: ["data:/data"]
    stop_grace_period: 2s
)" + k.extra_db_keys + R"(volumes:
  data:
)");
}

std::map<std::string, std::vector<ServiceContainer>> ContainersByService(const std::string& app) {
  DockerClient docker;
  std::vector<ContainerInfo> found;
  docker.ListContainers({{"im.backend.bim.app", app}}, true, &found);
  std::map<std::string, std::vector<ServiceContainer>> out;
  for (const auto& c : found) {
    ContainerInfo full;
    if (!docker.InspectContainer(c.id, &full).ok()) continue;
    std::string service = full.labels.count("im.backend.bim.service") ? full.labels.at("im.backend.bim.service") : "?";
    out[service].push_back({full.name, full.id, full.image_id, full.running, full.restart_count});
  }
  return out;
}

std::map<std::string, std::string> AppNetworkSubnets(const std::string& app) {
  DockerClient docker;
  std::vector<NetworkInfo> found;
  docker.ListNetworks({{"im.backend.bim.app", app}}, &found);
  std::map<std::string, std::string> out;
  for (const auto& n : found) out[n.name] = n.subnet;
  return out;
}

std::map<std::string, std::string> TarMembers(const std::string& tar) {
  std::map<std::string, std::string> out;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK) return out;
  archive_entry* entry;
  while (archive_read_next_header(a.get(), &entry) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    while (name.starts_with("./")) name.erase(0, 2);
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    std::string data;
    char buf[65536];
    for (la_ssize_t n; (n = archive_read_data(a.get(), buf, sizeof buf)) > 0;) data.append(buf, static_cast<size_t>(n));
    out[name] = data;
  }
  return out;
}

std::string MakeTar(const std::map<std::string, std::string>& files) {
  std::string out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_open(
      a.get(), &out, nullptr,
      [](archive*, void* user, const void* data, size_t n) -> la_ssize_t {
        static_cast<std::string*>(user)->append(static_cast<const char*>(data), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& [name, data] : files) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), ("./" + name).c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    archive_write_header(a.get(), e.get());
    archive_write_data(a.get(), data.data(), data.size());
  }
  archive_write_close(a.get());
  return out;
}

DbLog ReadDbLog(const std::string& text) {
  DbLog log;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("start ", 0) == 0) {
      log.starts.push_back(line.substr(6));
    } else if (line.rfind("tick ", 0) == 0) {
      long n = std::atol(line.c_str() + 5);
      if (n != log.ticks + 1) log.contiguous = false;
      log.ticks = n;
    } else {
      log.contiguous = false;  // a torn or foreign line
    }
  }
  return log;
}

}  // namespace bim::testing
