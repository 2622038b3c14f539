#include "cli/context_upload.h"

#include "cli/context_pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

#include "base/file_util.h"
#include "core/sha256.h"

namespace bim {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Files whose mtime or ctime is this recent are hashed but not cached: a write in the same clock tick
// could change them without changing either (git's "racy" entries).
constexpr long long kRacyNanos = 2'000'000'000LL;

long long Nanos(const struct timespec& t) { return static_cast<long long>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec; }

std::string CacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/bim";
  const char* home = std::getenv("HOME");
  if (home && *home == '/') return std::string(home) + "/.cache/bim";
  return "";
}

// The cache file for `kind` ("manifests", "hashes") and `key`; "" when there is no cache dir.
std::string CachePath(const std::string& kind, const std::string& key) {
  std::string dir = CacheDir();
  if (dir.empty() || !MakeDirs(dir + "/" + kind, 0700).ok()) return "";
  return dir + "/" + kind + "/" + Sha256Hex(key);
}

// What hashing a file produced, remembered across deploys.
struct HashRecord {
  unsigned long long ino = 0;
  long long size = 0, mtime_ns = 0, ctime_ns = 0;
  std::string sha256;
};
bool operator==(const HashRecord& a, const HashRecord& b) {
  return a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns &&
         a.sha256 == b.sha256;
}
using HashCache = std::unordered_map<std::string, HashRecord>;

HashCache LoadHashCache(const std::string& path) {
  HashCache cache;
  std::string text;
  if (path.empty() || !ReadFile(path, &text).ok() || !text.starts_with("bim-hashes 1\n")) return cache;
  std::istringstream in(text.substr(13));
  HashRecord r;
  std::string encoded, rel;
  while (in >> r.ino >> r.size >> r.mtime_ns >> r.ctime_ns >> r.sha256 >> encoded) {
    if (IsSha256Hex(r.sha256) && DecodeManifestPath(encoded, &rel).ok()) cache[rel] = r;
  }
  return cache;
}

void SaveHashCache(const std::string& path, const HashCache& cache) {
  if (path.empty()) return;
  std::string text = "bim-hashes 1\n";
  for (const auto& [rel, r] : cache)
    text += std::to_string(r.ino) + " " + std::to_string(r.size) + " " + std::to_string(r.mtime_ns) + " " +
            std::to_string(r.ctime_ns) + " " + r.sha256 + " " + EncodeManifestPath(rel) + "\n";
  WriteFileAtomically(path, text, 0600);
}

Status HashFile(const std::string& path, int64_t expected_size, std::string* sha) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::InvalidArgument("cannot read " + path + " (check its permissions)");
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  ssize_t n;
  int64_t total = 0;
  while ((n = read(fd, buf.data(), buf.size())) > 0) {
    hash.Update(buf.data(), static_cast<size_t>(n));
    total += n;
  }
  close(fd);
  if (n < 0) return Status::InvalidArgument("cannot read " + path);
  if (total != expected_size)
    return Status::FailedPrecondition(path + " changed while bim was reading it; deploy again when it is still");
  *sha = hash.HexDigest();
  return Status::OK();
}

// The manifest entries of a scanned folder, hashing the files the cache does not vouch for.
Status DescribeFolder(const std::string& root, const std::vector<ScannedEntry>& scanned, std::vector<ContextEntry>* out) {
  std::string cache_path = CachePath("hashes", fs::absolute(root).lexically_normal().string());
  HashCache cache = LoadHashCache(cache_path), fresh;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  out->clear();
  out->reserve(scanned.size());
  for (const ScannedEntry& s : scanned) {
    ContextEntry& e = out->emplace_back();
    e.path = s.rel;
    e.mode = s.st.st_mode & 07777;
    e.mtime = s.st.st_mtime;
    std::string full = root + "/" + s.rel;
    if (S_ISDIR(s.st.st_mode)) {
      e.type = ContextEntry::Type::kDir;
    } else if (S_ISLNK(s.st.st_mode)) {
      e.type = ContextEntry::Type::kSymlink;
      char target[4096];
      ssize_t n = readlink(full.c_str(), target, sizeof target);
      if (n <= 0 || n == static_cast<ssize_t>(sizeof target)) return Status::InvalidArgument("cannot read symlink " + full);
      e.target.assign(target, static_cast<size_t>(n));
    } else {
      e.type = ContextEntry::Type::kFile;
      e.size = s.st.st_size;
      HashRecord r{static_cast<unsigned long long>(s.st.st_ino), static_cast<long long>(s.st.st_size),
                   Nanos(s.st.st_mtim), Nanos(s.st.st_ctim), ""};
      auto hit = cache.find(s.rel);
      if (hit != cache.end() && hit->second.ino == r.ino && hit->second.size == r.size &&
          hit->second.mtime_ns == r.mtime_ns && hit->second.ctime_ns == r.ctime_ns) {
        r.sha256 = hit->second.sha256;
      } else if (Status st = HashFile(full, e.size, &r.sha256); !st.ok()) {
        return st;
      }
      e.sha256 = r.sha256;
      if (Nanos(now) - std::max(r.mtime_ns, r.ctime_ns) > kRacyNanos) fresh[s.rel] = r;
    }
  }
  if (!(fresh == cache)) SaveHashCache(cache_path, fresh);
  return Status::OK();
}

}  // namespace

Status PlanContextUpload(const ApiClient& client, const std::string& app, const std::string& dir,
                         ContextUploadPlan* out, bool require_dockerfile) {
  *out = ContextUploadPlan();
  std::vector<ScannedEntry> scanned;
  Status s = ScanContext(dir, &out->root, &scanned, &out->stats, require_dockerfile);
  if (!s.ok()) return s;
  if (!(s = DescribeFolder(out->root, scanned, &out->entries)).ok()) return s;
  for (const auto& e : out->entries) {
    if (e.type != ContextEntry::Type::kFile) continue;
    out->stats.files++;
    out->stats.bytes += e.size;
  }
  const std::string full = FormatManifest(out->entries);
  const std::string id = Sha256Hex(full);

  // The base of a delta: the last manifest this machine planned for this server and app.
  std::string base_path = CachePath("manifests", client.config().url + "\n" + app);
  std::string base_text, delta;
  std::vector<ContextEntry> base;
  if (!base_path.empty() && ReadFile(base_path, &base_text).ok() &&
      ParseManifest(base_text, ManifestLimits{INT64_MAX / 2, INT64_MAX / 2}, &base).ok()) {
    delta = FormatManifestDelta(base, Sha256Hex(base_text), out->entries);
    if (delta.size() >= full.size()) delta.clear();
  }
  json answer;
  const std::string path = "/v1/apps/" + app + "/contexts" + (require_dockerfile ? "" : "?compose=1");
  if (!delta.empty()) {
    s = client.PostText(path, delta, &answer);
    out->manifest_bytes_sent += static_cast<int64_t>(delta.size());
    out->sent_delta = s.ok();
  }
  if (delta.empty() || s.IsNotFound()) {  // no base, or bimd pruned it: the whole manifest
    s = client.PostText(path, full, &answer);
    out->manifest_bytes_sent += static_cast<int64_t>(full.size());
  }
  if (!s.ok()) return s;
  out->manifest_id = answer.value("manifest", "");
  if (out->manifest_id != id)
    return Status::Internal("bimd stored the build context manifest as " + out->manifest_id.substr(0, 12) +
                            ", expected " + id.substr(0, 12));
  if (answer.contains("missing") && answer["missing"].is_array())
    for (const auto& h : answer["missing"])
      if (h.is_string()) out->missing.push_back(h.get<std::string>());
  out->missing_bytes = answer.value("missing_bytes", int64_t{0});
  out->present_bytes = answer.value("present_bytes", int64_t{0});
  out->files = answer.value("files", int64_t{0});
  if (!base_path.empty()) WriteFileAtomically(base_path, full, 0600);
  return Status::OK();
}

Status PackMissingContents(const ContextUploadPlan& plan, const std::string& tar_path, int64_t* packed_bytes) {
  std::map<std::string, const ContextEntry*> by_hash;
  for (const auto& e : plan.entries)
    if (e.type == ContextEntry::Type::kFile) by_hash.emplace(e.sha256, &e);

  ArchiveWriter a;
  if (Status s = OpenGzipTarWriter(tar_path, &a); !s.ok()) return s;
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
  std::vector<char> buf(1 << 16);
  for (const std::string& sha : plan.missing) {
    auto found = by_hash.find(sha);
    if (found == by_hash.end()) return Status::Internal("bimd asked for content " + sha.substr(0, 12) + " the folder lacks");
    const ContextEntry& e = *found->second;
    std::string full = plan.root + "/" + e.path;
    archive_entry_clear(entry.get());
    archive_entry_set_pathname(entry.get(), sha.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0600);
    archive_entry_set_size(entry.get(), e.size);
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK)
      return Status::Internal("cannot pack " + e.path + ": " + archive_error_string(a.get()));
    int fd = open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FailedPrecondition(full + " disappeared while deploying; deploy again");
    Sha256 hash;
    int64_t total = 0;
    ssize_t n;
    while (total < e.size && (n = read(fd, buf.data(), std::min<size_t>(buf.size(), e.size - total))) > 0) {
      hash.Update(buf.data(), static_cast<size_t>(n));
      archive_write_data(a.get(), buf.data(), static_cast<size_t>(n));
      total += n;
    }
    close(fd);
    if (total != e.size || hash.HexDigest() != sha)
      return Status::FailedPrecondition(full + " changed while deploying; deploy again when it is still");
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return Status::Internal("cannot finish " + tar_path + ": " + archive_error_string(a.get()));
  struct stat st;
  *packed_bytes = stat(tar_path.c_str(), &st) == 0 ? st.st_size : 0;
  return Status::OK();
}

}  // namespace bim
