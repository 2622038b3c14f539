#include "server/image_archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "core/deploy_plan.h"
#include "core/sha256.h"
#include "server/context_check.h"

namespace bim {

using nlohmann::json;

namespace {

Status Refuse(const std::string& why) { return Status::InvalidArgument("image upload refused: " + why); }

std::string Clean(std::string s) {
  while (s.starts_with("./")) s.erase(0, 2);
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool SafeName(const std::string& s) {
  if (s.empty() || s[0] == '/' || !StaysInside("", s)) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

Status CheckImageArchive(const std::string& path, const ImageArchiveRules& rules, ImageArchiveFacts* facts) {
  *facts = ImageArchiveFacts();
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Refuse("not a readable tar");

  // docker save writes manifest.json last, so collect the small JSON files and every name first.
  std::map<std::string, std::string> json_files;  // name -> content
  std::map<std::string, std::string> hashes;      // name -> SHA-256 of content (JSON files only)
  std::set<std::string> names;
  int64_t entries = 0, json_bytes = 0;
  archive_entry* entry;
  std::vector<char> buf(1 << 16);
  for (;;) {
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return Refuse("the tar is corrupt or truncated");
    if (++entries > rules.max_entries) return Status::TooLarge("image upload refused: too many entries");
    const char* raw = archive_entry_pathname(entry);
    std::string name = Clean(raw ? raw : "");
    if (!SafeName(name)) return Refuse("entry \"" + name + "\" has an unsafe name");
    mode_t type = archive_entry_filetype(entry);
    if (archive_entry_hardlink(entry) || (type != AE_IFREG && type != AE_IFDIR))
      return Refuse("entry \"" + name + "\" is not a regular file or directory");
    if (name == "repositories") return Refuse("it carries a repositories file (tags); bimd tags images itself");
    names.insert(name);
    bool keep = type == AE_IFREG && name.ends_with(".json") && name.find('/') == std::string::npos;
    std::string content;
    Sha256 hash;
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf.data(), buf.size())) > 0) {
      if (!keep) continue;
      json_bytes += n;
      if (json_bytes > rules.max_json_bytes) return Status::TooLarge("image upload refused: its JSON files are too large");
      content.append(buf.data(), static_cast<size_t>(n));
      hash.Update(buf.data(), static_cast<size_t>(n));
    }
    if (n < 0) return Refuse("the tar is corrupt or truncated");
    if (keep) {
      hashes[name] = hash.HexDigest();
      json_files[name] = std::move(content);
    }
  }

  auto manifest_file = json_files.find("manifest.json");
  if (manifest_file == json_files.end()) return Refuse("it has no manifest.json (use docker save)");
  json manifest = json::parse(manifest_file->second, nullptr, false);
  if (!manifest.is_array() || manifest.size() != 1 || !manifest[0].is_object())
    return Refuse("manifest.json must list exactly one image");
  const json& image = manifest[0];
  if (image.contains("RepoTags") && !image["RepoTags"].is_null() &&
      !(image["RepoTags"].is_array() && image["RepoTags"].empty()))
    return Refuse("manifest.json names tags (RepoTags); bimd tags images itself");
  if (!image.contains("Config") || !image["Config"].is_string() || !image.contains("Layers") ||
      !image["Layers"].is_array())
    return Refuse("manifest.json needs Config and Layers");
  std::string config_name = Clean(image["Config"].get<std::string>());
  auto config_file = json_files.find(config_name);
  if (config_file == json_files.end()) return Refuse("the config file " + config_name + " is missing");
  if ("sha256:" + hashes[config_name] != rules.image_id)
    return Refuse("it holds image sha256:" + hashes[config_name].substr(0, 12) + ", not the image the deploy names");

  json config = json::parse(config_file->second, nullptr, false);
  if (!config.is_object() || !config.contains("rootfs") || !config["rootfs"].is_object() ||
      !config["rootfs"].contains("diff_ids") || !config["rootfs"]["diff_ids"].is_array())
    return Refuse("the image config has no rootfs.diff_ids");
  for (const json& d : config["rootfs"]["diff_ids"]) {
    if (!d.is_string()) return Refuse("the image config has a malformed diff id");
    facts->diff_ids.push_back(d.get<std::string>());
  }
  if (image["Layers"].size() != facts->diff_ids.size())
    return Refuse("manifest.json lists " + std::to_string(image["Layers"].size()) + " layers, the config " +
                  std::to_string(facts->diff_ids.size()));
  for (const json& l : image["Layers"]) {
    if (!l.is_string() || !SafeName(Clean(l.get<std::string>()))) return Refuse("manifest.json names an unsafe layer path");
    if (names.count(Clean(l.get<std::string>()))) facts->layer_files_present++;
  }
  json labels = config.contains("config") && config["config"].is_object() ? config["config"].value("Labels", json())
                                                                            : json();
  auto label = [&labels](const char* key) {
    return labels.is_object() && labels.contains(key) && labels[key].is_string() ? labels[key].get<std::string>()
                                                                                : std::string();
  };
  if (label(labels::kInstance) != rules.instance_id || label(labels::kApp) != rules.app)
    return Refuse(std::string("the image lacks the labels ") + labels::kInstance + "=" + rules.instance_id + " and " +
                  labels::kApp + "=" + rules.app + " (build it with `bim deploy --build local`)");
  return Status::OK();
}

}  // namespace bim
