#include "server/context_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "base/file_util.h"
#include "base/random.h"

namespace bim {

namespace fs = std::filesystem;

namespace {

// Stored manifests were checked when they arrived; reading one back needs no limits of its own.
const ManifestLimits kStoredLimits{std::numeric_limits<int64_t>::max() / 2, std::numeric_limits<int64_t>::max() / 2};

std::string ErrorOf(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? e : "unknown error";
}

void Touch(const std::string& path) { utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

long long AgeSeconds(const struct stat& st) {
  return static_cast<long long>(NowMillis() / 1000) - static_cast<long long>(st.st_mtime);
}

// Unlinks every file in `paths` (a refused upload leaves nothing).
void RemoveAll(const std::vector<std::string>& paths) {
  for (const auto& p : paths) unlink(p.c_str());
}

Status WriteAll(int fd, const char* data, size_t len, const std::string& path) {
  for (size_t off = 0; off < len;) {
    ssize_t n = write(fd, data + off, len - off);
    if (n <= 0) return Status::Internal("cannot write " + path);
    off += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

ContextStore::ContextStore(ContextStoreOptions options) : options_(std::move(options)) {}

Status ContextStore::Open() {
  if (Status s = MakeDirs(options_.root, 0700); !s.ok()) return s.Wrap("creating the context store");
  std::error_code ec;
  for (const auto& app : fs::directory_iterator(options_.root, ec)) {
    std::error_code ignored;
    for (const auto& f : fs::directory_iterator(app.path() / "tmp", ignored)) fs::remove(f.path(), ignored);
  }
  return Status::OK();
}

std::shared_ptr<ContextStore::AppState> ContextStore::State(const std::string& app) {
  std::lock_guard<std::mutex> lock(states_mu_);
  auto& state = states_[app];
  if (!state) state = std::make_shared<AppState>();
  return state;
}

std::string ContextStore::BlobPath(const std::string& app, const std::string& sha) const {
  return AppDir(app) + "/blobs/" + sha.substr(0, 2) + "/" + sha;
}

Status ContextStore::StoreManifest(const std::string& app, const std::string& text, const std::string& id) {
  std::string path = AppDir(app) + "/manifests/" + id;
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    Touch(path);
    return Status::OK();
  }
  if (Status s = MakeDirs(AppDir(app) + "/manifests", 0700); !s.ok()) return s;
  return WriteFileAtomically(path, text, 0600);
}

Status ContextStore::ReadManifest(const std::string& app, const std::string& id, bool mark_used,
                                  std::vector<ContextEntry>* out) {
  if (!IsSha256Hex(id)) return Status::InvalidArgument("a manifest id is 64 lower-case hex digits");
  std::string path = AppDir(app) + "/manifests/" + id, text;
  Status s = ReadFile(path, &text);
  if (s.IsNotFound())
    return Status::NotFound("bimd no longer has build context manifest " + id.substr(0, 12) + " of app \"" + app +
                            "\" (run bim deploy again)");
  if (!s.ok()) return s;
  if (mark_used) Touch(path);
  return ParseManifest(text, kStoredLimits, out);
}

Status ContextStore::PlanUpload(const std::string& app, const std::string& text, const ContextLimits& limits,
                                ContextPlan* out, const std::string& dockerfile) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  *out = ContextPlan();
  ManifestLimits manifest_limits{limits.max_entries, limits.max_unpacked_bytes};
  std::string full;
  Status s;
  if (IsManifestDelta(text)) {
    std::string base_id, result_id;
    if (!(s = ParseDeltaHeader(text, &base_id, &result_id)).ok()) return s;
    std::vector<ContextEntry> base;
    if (!(s = ReadManifest(app, base_id, true, &base)).ok()) return s;
    if (!(s = ApplyManifestDelta(base, text, manifest_limits, &out->entries)).ok()) return s;
    full = FormatManifest(out->entries);
    out->manifest_id = Sha256Hex(full);
    if (out->manifest_id != result_id)
      return Status::InvalidArgument("the build context manifest delta does not produce the manifest it names "
                                     "(send the whole manifest)");
  } else {
    if (!(s = ParseManifest(text, manifest_limits, &out->entries)).ok()) return s;
    full = text;
    out->manifest_id = Sha256Hex(full);
  }
  if (!(s = CheckManifest(out->entries, limits, dockerfile)).ok()) return s;
  if (!(s = StoreManifest(app, full, out->manifest_id)).ok()) return s;

  std::set<std::string> seen;
  for (const auto& e : out->entries) {
    if (e.type != ContextEntry::Type::kFile) continue;
    ++out->files;
    struct stat st;
    if (stat(BlobPath(app, e.sha256).c_str(), &st) == 0) {
      out->present_bytes += e.size;
    } else if (seen.insert(e.sha256).second) {
      out->missing.push_back(e.sha256);
      out->missing_bytes += e.size;
    }
  }
  std::sort(out->missing.begin(), out->missing.end());
  return Status::OK();
}

Status ContextStore::LoadManifest(const std::string& app, const std::string& manifest_id,
                                  std::vector<ContextEntry>* out) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  return ReadManifest(app, manifest_id, true, out);
}

std::vector<std::string> ContextStore::MissingContents(const std::string& app,
                                                       const std::vector<ContextEntry>& entries) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  std::set<std::string> missing;
  for (const auto& e : entries) {
    struct stat st;
    if (e.type == ContextEntry::Type::kFile && stat(BlobPath(app, e.sha256).c_str(), &st) != 0) missing.insert(e.sha256);
  }
  return {missing.begin(), missing.end()};
}

Status ContextStore::AddContents(const std::string& app, const std::string& tar_path,
                                 const std::set<std::string>& wanted, ContentsAdded* added) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  *added = ContentsAdded();
  std::string tmp_dir = AppDir(app) + "/tmp";
  if (Status s = MakeDirs(tmp_dir, 0700); !s.ok()) return s;

  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status::InvalidArgument("uploaded contents are not a readable tar: " + ErrorOf(a.get()));

  std::vector<std::string> written;                        // temp files, removed on any failure
  std::vector<std::pair<std::string, std::string>> moves;  // temp -> blob
  std::set<std::string> got;
  auto fail = [&](const Status& s) {
    RemoveAll(written);
    return s;
  };
  std::vector<char> buf(1 << 16);
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      return fail(Status::InvalidArgument("uploaded contents are corrupt or truncated: " + ErrorOf(a.get())));
    const char* raw = archive_entry_pathname(entry);
    std::string name = raw ? raw : "";
    if (!IsSha256Hex(name) || archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry))
      return fail(Status::InvalidArgument("uploaded contents must be regular files named by their SHA-256"));
    if (!wanted.count(name))
      return fail(Status::InvalidArgument("uploaded content " + name.substr(0, 12) +
                                          " is not a file of the deployed build context"));
    if (!got.insert(name).second)
      return fail(Status::InvalidArgument("uploaded content " + name.substr(0, 12) + " appears twice"));
    std::string tmp = tmp_dir + "/" + RandomHex(8);
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Status::Internal("cannot create " + tmp));
    written.push_back(tmp);
    Sha256 hash;
    la_ssize_t n;
    int64_t size = 0;
    Status w;
    while ((n = archive_read_data(a.get(), buf.data(), buf.size())) > 0) {
      hash.Update(buf.data(), static_cast<size_t>(n));
      size += n;
      if (!(w = WriteAll(fd, buf.data(), static_cast<size_t>(n), tmp)).ok()) break;
    }
    close(fd);
    if (!w.ok()) return fail(w);
    if (n < 0) return fail(Status::InvalidArgument("uploaded contents are corrupt or truncated: " + ErrorOf(a.get())));
    std::string hex = hash.HexDigest();
    if (hex != name)
      return fail(Status::InvalidArgument("uploaded content named " + name.substr(0, 12) + " hashes to " +
                                          hex.substr(0, 12) + " (corrupted in transit? run bim deploy again)"));
    moves.emplace_back(tmp, name);
    added->contents++;
    added->bytes += size;
  }

  int64_t usage = MeasureLocked(app, state.get());
  if (usage + added->bytes > options_.max_bytes_per_app) {
    PruneLocked(app, state.get(), added->bytes);
    if (state->usage + added->bytes > options_.max_bytes_per_app)
      return fail(Status::TooLarge("app \"" + app + "\" would keep more than " +
                                   std::to_string(options_.max_bytes_per_app) +
                                   " bytes of build contexts on the server (add large files to .dockerignore)"));
  }
  for (const auto& [tmp, sha] : moves) {
    std::string dest = BlobPath(app, sha);
    if (Status s = MakeDirs(dest.substr(0, dest.rfind('/')), 0700); !s.ok()) return fail(s);
    if (rename(tmp.c_str(), dest.c_str()) != 0) return fail(Status::Internal("cannot store " + dest));
  }
  state->usage += added->bytes;
  return Status::OK();
}

Status ContextStore::WriteContextTar(const std::string& app, const std::vector<ContextEntry>& entries,
                                     const std::string& tar_path) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), tar_path.c_str()) != ARCHIVE_OK)
    return Status::Internal("cannot write " + tar_path + ": " + ErrorOf(a.get()));
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
  std::vector<char> buf(1 << 16);
  for (const auto& e : entries) {
    archive_entry_clear(entry.get());
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_perm(entry.get(), e.mode & 07777);
    archive_entry_set_mtime(entry.get(), e.mtime, 0);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    int fd = -1;
    if (e.type == ContextEntry::Type::kDir) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
    } else if (e.type == ContextEntry::Type::kSymlink) {
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_symlink(entry.get(), e.target.c_str());
    } else {
      std::string blob = BlobPath(app, e.sha256);
      fd = open(blob.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat(fd, &st) != 0 || st.st_size != e.size) {
        if (fd >= 0) close(fd);
        return Status::FailedPrecondition("the server no longer has the content of " + e.path +
                                          " (pruned during the deploy?); run bim deploy again");
      }
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_size(entry.get(), e.size);
    }
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      if (fd >= 0) close(fd);
      return Status::Internal("cannot write the build context entry " + e.path + ": " + ErrorOf(a.get()));
    }
    if (fd < 0) continue;
    ssize_t n;
    while ((n = read(fd, buf.data(), buf.size())) > 0) archive_write_data(a.get(), buf.data(), static_cast<size_t>(n));
    close(fd);
    if (n < 0) return Status::Internal("cannot read the stored content of " + e.path);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return Status::Internal("cannot finish " + tar_path + ": " + ErrorOf(a.get()));
  return Status::OK();
}

int64_t ContextStore::MeasureLocked(const std::string& app, AppState* state) {
  if (state->usage >= 0) return state->usage;
  int64_t total = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(AppDir(app), ec)) {
    std::error_code ignored;
    if (f.is_regular_file(ignored)) total += static_cast<int64_t>(f.file_size(ignored));
  }
  return state->usage = total;
}

void ContextStore::PruneLocked(const std::string& app, AppState* state, int64_t room_for) {
  struct Manifest {
    std::string path;
    time_t mtime;
    long long age;
    int64_t size;
  };
  std::vector<Manifest> manifests;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(AppDir(app) + "/manifests", ec)) {
    struct stat st;
    if (stat(f.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!IsSha256Hex(f.path().filename().string())) {  // a temp file an interrupted write left
      if (AgeSeconds(st) >= options_.grace.count()) unlink(f.path().c_str());
      continue;
    }
    manifests.push_back({f.path().string(), st.st_mtime, AgeSeconds(st), st.st_size});
  }
  std::sort(manifests.begin(), manifests.end(), [](const Manifest& a, const Manifest& b) { return a.mtime > b.mtime; });
  // The count rule: the newest keep_manifests, plus any used within the grace.
  std::vector<Manifest> kept;
  for (size_t i = 0; i < manifests.size(); ++i) {
    if (static_cast<int>(i) < options_.keep_manifests || manifests[i].age < options_.grace.count())
      kept.push_back(manifests[i]);
    else
      unlink(manifests[i].path.c_str());
  }
  // Then contents no kept manifest names; the cap rule drops the oldest kept manifests (never the
  // newest) until the store fits.
  for (bool ignore_grace = false;; ignore_grace = true) {
    std::set<std::string> referenced;
    int64_t total = 0;
    for (const auto& m : kept) {
      std::vector<ContextEntry> entries;
      std::string id = m.path.substr(m.path.rfind('/') + 1);
      if (ReadManifest(app, id, false, &entries).ok())
        for (const auto& e : entries)
          if (e.type == ContextEntry::Type::kFile) referenced.insert(e.sha256);
      total += m.size;
    }
    for (const auto& dir : fs::directory_iterator(AppDir(app) + "/blobs", ec)) {
      std::error_code ignored;
      for (const auto& f : fs::directory_iterator(dir.path(), ignored)) {
        struct stat st;
        if (stat(f.path().c_str(), &st) != 0) continue;
        bool young = !ignore_grace && AgeSeconds(st) < options_.grace.count();
        if (referenced.count(f.path().filename().string()) || young)
          total += st.st_size;
        else
          unlink(f.path().c_str());
      }
    }
    state->usage = total;
    if (total + room_for <= options_.max_bytes_per_app || kept.size() <= 1) return;
    unlink(kept.back().path.c_str());
    kept.pop_back();
  }
}

void ContextStore::Prune(const std::string& app) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  PruneLocked(app, state.get(), 0);
}

Status ContextStore::RemoveApp(const std::string& app) {
  auto state = State(app);
  {
    std::lock_guard<std::mutex> lock(state->mu);
    std::error_code ec;
    fs::remove_all(AppDir(app), ec);
    if (ec) return Status::Internal("cannot remove the stored build contexts of " + app + ": " + ec.message());
    state->usage = -1;
  }
  std::lock_guard<std::mutex> lock(states_mu_);
  states_.erase(app);
  return Status::OK();
}

void ContextStore::RemoveAppsExcept(const std::set<std::string>& apps) {
  std::error_code ec;
  std::vector<std::string> gone;
  for (const auto& dir : fs::directory_iterator(options_.root, ec))
    if (!apps.count(dir.path().filename().string())) gone.push_back(dir.path().filename().string());
  for (const auto& app : gone) RemoveApp(app);
}

int64_t ContextStore::UsageBytes(const std::string& app) {
  auto state = State(app);
  std::lock_guard<std::mutex> lock(state->mu);
  return MeasureLocked(app, state.get());
}

}  // namespace bim
