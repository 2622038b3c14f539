#include "cli/local_build.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include "cli/context_pack.h"
#include "core/deploy_plan.h"

namespace bim {

using nlohmann::json;

namespace {

using Reader = std::unique_ptr<archive, decltype(&archive_read_free)>;

Status OpenReader(const std::string& path, Reader* a) {
  a->reset(archive_read_new());
  archive_read_support_filter_all(a->get());
  archive_read_support_format_tar(a->get());
  if (archive_read_open_filename(a->get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status::Internal("cannot read the saved image " + path + ": " + archive_error_string(a->get()));
  return Status::OK();
}

// manifest.json of a `docker save` archive: the one image's layer files (bottom first) and the sizes of
// every entry.
Status ReadSavedManifest(const std::string& path, json* manifest, std::map<std::string, int64_t>* sizes) {
  Reader a(nullptr, archive_read_free);
  if (Status s = OpenReader(path, &a); !s.ok()) return s;
  archive_entry* entry;
  std::string text;
  while (archive_read_next_header(a.get(), &entry) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    (*sizes)[name] = archive_entry_size(entry);
    if (name != "manifest.json") continue;
    text.resize(static_cast<size_t>(archive_entry_size(entry)));
    if (archive_read_data(a.get(), text.data(), text.size()) != static_cast<la_ssize_t>(text.size()))
      return Status::Internal("cannot read manifest.json of the saved image");
  }
  *manifest = json::parse(text, nullptr, false);
  if (!manifest->is_array() || manifest->size() != 1 || !(*manifest)[0].is_object() ||
      !(*manifest)[0].contains("Layers") || !(*manifest)[0]["Layers"].is_array())
    return Status::Internal("docker save wrote no usable manifest.json");
  return Status::OK();
}

}  // namespace

Status LocalDockerSocket(std::string* path) {
  const char* host = std::getenv("DOCKER_HOST");
  if (host == nullptr || *host == '\0') {
    *path = "/var/run/docker.sock";
    return Status::OK();
  }
  std::string h = host;
  if (!h.starts_with("unix://"))
    return Status::InvalidArgument("bim up and --build local talk to Docker over a unix socket; DOCKER_HOST is \"" + h +
                                   "\" (unset it, or set DOCKER_HOST=unix:///path/to/docker.sock)");
  *path = h.substr(7);
  return Status::OK();
}

Status BuildFolder(const DockerClient& docker, const std::string& dir, const AppConfig& config, const std::string& tag,
                   const Labels& labels, const std::function<void(const PackStats&)>& on_packed,
                   const LineSink& on_output, PackStats* stats, std::string* image_id) {
  char tmpl[] = "/tmp/bim-local-context-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return Status::Internal("cannot create a temporary file in /tmp");
  close(fd);
  struct Cleanup {
    std::string path;
    ~Cleanup() { unlink(path.c_str()); }
  } cleanup{tmpl};
  if (Status s = PackContext(dir, tmpl, stats); !s.ok()) return s;
  if (on_packed) on_packed(*stats);
  BuildOptions build;
  build.context_tar_path = tmpl;
  build.tag = tag;
  build.build_args = config.build_args;
  build.labels = labels;
  Status s = docker.BuildImage(build, on_output, image_id);
  if (s.code() == Code::kFailedPrecondition) return Status::FailedPrecondition("build failed: " + s.message());
  return s;
}

Status BuildLocally(const DockerClient& docker, const std::string& dir, const AppConfig& config,
                    const std::string& instance, const LineSink& on_output, LocalImage* out) {
  PackStats stats;
  Status s = BuildFolder(docker, dir, config, "bim-local/" + config.app + ":latest",
                         {{labels::kInstance, instance}, {labels::kApp, config.app}}, nullptr, on_output, &stats,
                         &out->id);
  if (!s.ok()) return s.code() == Code::kFailedPrecondition ? Status::FailedPrecondition("local " + s.message()) : s;
  ImageInfo info;
  if (!(s = docker.InspectImage(out->id, &info)).ok()) return s;
  out->layers = info.layers;
  out->source_digest = stats.content_digest;
  return Status::OK();
}

Status PlanImageUpload(const ApiClient& client, const DockerClient& docker, const std::string& app,
                       const LocalImage& image, const std::string& archive_path, ImageUploadPlan* out) {
  *out = ImageUploadPlan();
  json answer;
  Status s = client.Post("/v1/apps/" + app + "/layers", json{{"image", image.id}, {"layers", image.layers}}, &answer);
  if (!s.ok()) return s;
  out->server_has_image = answer.value("image", false);
  out->held_layers = answer.value("layers", 0);
  if (out->server_has_image) return Status::OK();
  if (out->held_layers < 0 || out->held_layers > static_cast<int>(image.layers.size()))
    return Status::Internal("bimd claims to hold more layers than the image has");

  std::string saved = archive_path + ".saved";
  struct Cleanup {
    std::string path;
    ~Cleanup() { unlink(path.c_str()); }
  } cleanup{saved};
  if (!(s = docker.SaveImage(image.id, saved)).ok()) return s;
  json manifest;
  std::map<std::string, int64_t> sizes;
  if (!(s = ReadSavedManifest(saved, &manifest, &sizes)).ok()) return s;
  const json& layer_files = manifest[0]["Layers"];
  if (layer_files.size() != image.layers.size())
    return Status::Internal("docker save listed " + std::to_string(layer_files.size()) + " layers, the image has " +
                            std::to_string(image.layers.size()));
  // Leave out the files of the layers bimd holds, unless a layer it lacks uses the same file.
  std::set<std::string> skip, keep;
  for (size_t i = 0; i < layer_files.size(); ++i)
    (static_cast<int>(i) < out->held_layers ? skip : keep).insert(layer_files[i].get<std::string>());
  for (const auto& k : keep) skip.erase(k);
  manifest[0]["RepoTags"] = nullptr;  // bimd tags it itself; a tag in the archive is refused
  const std::string manifest_text = manifest.dump();

  Reader in(nullptr, archive_read_free);
  if (!(s = OpenReader(saved, &in)).ok()) return s;
  ArchiveWriter w;
  if (!(s = OpenGzipTarWriter(archive_path, &w)).ok()) return s;
  archive_entry* entry;
  std::vector<char> buf(1 << 16);
  while (archive_read_next_header(in.get(), &entry) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    if (skip.count(name)) {
      out->layer_bytes_held += archive_entry_size(entry);
      continue;
    }
    if (name == "repositories") continue;  // tags again
    bool is_manifest = name == "manifest.json";
    if (is_manifest) archive_entry_set_size(entry, static_cast<la_int64_t>(manifest_text.size()));
    if (keep.count(name)) {
      out->layers_sent++;
      out->layer_bytes_sent += archive_entry_size(entry);
    }
    if (archive_write_header(w.get(), entry) != ARCHIVE_OK)
      return Status::Internal("cannot write " + archive_path + ": " + archive_error_string(w.get()));
    if (is_manifest) {
      archive_write_data(w.get(), manifest_text.data(), manifest_text.size());
      continue;
    }
    la_ssize_t n;
    while ((n = archive_read_data(in.get(), buf.data(), buf.size())) > 0)
      archive_write_data(w.get(), buf.data(), static_cast<size_t>(n));
    if (n < 0) return Status::Internal("cannot read the saved image: " + std::string(archive_error_string(in.get())));
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK)
    return Status::Internal("cannot finish " + archive_path + ": " + archive_error_string(w.get()));
  struct stat st;
  out->archive_bytes = stat(archive_path.c_str(), &st) == 0 ? st.st_size : 0;
  return Status::OK();
}

}  // namespace bim
