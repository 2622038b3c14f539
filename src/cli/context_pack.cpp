#include "cli/context_pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "base/file_util.h"
#include "core/context_manifest.h"
#include "core/context_tree.h"
#include "core/dockerignore.h"

namespace bim {

namespace fs = std::filesystem;

namespace {

using Entry = ScannedEntry;

// True if a symlink at `rel` with `target` resolves inside the context root.
bool LinkStaysInside(const std::string& rel, const std::string& target) {
  if (target.empty() || target[0] == '/') return false;
  fs::path p = fs::path(rel).parent_path() / target;
  int depth = 0;
  for (const auto& part : p.lexically_normal()) {
    std::string s = part.string();
    if (s == "..") {
      if (--depth < 0) return false;
    } else if (s != "." && !s.empty()) {
      ++depth;
    }
  }
  return true;
}

void Walk(const std::string& root, const std::string& rel_dir, const DockerIgnore& ignore, std::vector<Entry>* out,
          PackStats* stats) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& de : fs::directory_iterator(rel_dir.empty() ? root : root + "/" + rel_dir, ec))
    names.push_back(de.path().filename().string());
  if (ec) {
    stats->warnings.push_back("cannot read " + (rel_dir.empty() ? root : rel_dir) + ": " + ec.message());
    return;
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
    Entry e{rel, {}};
    if (lstat((root + "/" + rel).c_str(), &e.st) != 0) continue;
    bool always = rel == "Dockerfile" || rel == ".dockerignore";
    if (IsSecretFileName(name)) {
      // Never uploaded, whatever .dockerignore says (bimd refuses a context holding one).
      if (!ignore.Excludes(rel))
        stats->warnings.push_back(rel + " is never uploaded (.env files hold secrets; the folder's .env reaches the "
                                  "container as env); add it to .dockerignore to silence this");
      continue;
    }
    bool excluded = !always && ignore.Excludes(rel);
    if (S_ISDIR(e.st.st_mode)) {
      if (excluded && !ignore.HasExceptions()) continue;
      if (!excluded) out->push_back(e);
      Walk(root, rel, ignore, out, stats);
      continue;
    }
    if (excluded) continue;
    if (S_ISLNK(e.st.st_mode)) {
      char buf[4096];
      ssize_t n = readlink((root + "/" + rel).c_str(), buf, sizeof buf - 1);
      if (n < 0 || !LinkStaysInside(rel, std::string(buf, static_cast<size_t>(n)))) {
        stats->warnings.push_back("left out symlink " + rel + ": it points outside the app folder");
        continue;
      }
      out->push_back(e);
    } else if (S_ISREG(e.st.st_mode)) {
      out->push_back(e);
    } else {
      stats->warnings.push_back("left out " + rel + ": not a file, directory or symlink");
    }
  }
}

}  // namespace

Status ScanContext(const std::string& dir, std::string* root_out, std::vector<ScannedEntry>* entries,
                   PackStats* stats, bool require_dockerfile) {
  *stats = PackStats();
  entries->clear();
  std::string root = fs::path(dir).lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  *root_out = root;
  struct stat st;
  if (require_dockerfile && (stat((root + "/Dockerfile").c_str(), &st) != 0 || !S_ISREG(st.st_mode)))
    return Status::InvalidArgument(root + " has no Dockerfile (write one, or run `bim init` to generate it)");

  DockerIgnore ignore;
  std::string ignore_text;
  if (ReadFile(root + "/.dockerignore", &ignore_text).ok()) {
    Status s = DockerIgnore::Parse(ignore_text, &ignore);
    if (!s.ok()) return s.Wrap(".dockerignore");
  }
  Walk(root, "", ignore, entries, stats);
  std::sort(entries->begin(), entries->end(), [](const Entry& a, const Entry& b) { return a.rel < b.rel; });
  return Status::OK();
}

void ArchiveWriterFree::operator()(archive* a) const { archive_write_free(a); }

Status OpenGzipTarWriter(const std::string& path, ArchiveWriter* out) {
  ArchiveWriter a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_filter_option(a.get(), "gzip", "compression-level", "1");
  if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK)
    return Status::Internal("cannot write " + path + ": " + archive_error_string(a.get()));
  *out = std::move(a);
  return Status::OK();
}

Status PackContext(const std::string& dir, const std::string& tar_path, PackStats* stats) {
  std::string root;
  std::vector<Entry> entries;
  if (Status s = ScanContext(dir, &root, &entries, stats); !s.ok()) return s;
  struct stat st;

  ArchiveWriter a;
  if (Status s = OpenGzipTarWriter(tar_path, &a); !s.ok()) return s;

  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
  std::vector<char> buf(1 << 16);
  std::vector<ContextEntry> described;  // what was packed, as a manifest describes it (for the digest)
  described.reserve(entries.size());
  for (const auto& e : entries) {
    archive_entry_clear(entry.get());
    archive_entry_set_pathname(entry.get(), e.rel.c_str());
    archive_entry_set_perm(entry.get(), e.st.st_mode & 07777);
    archive_entry_set_mtime(entry.get(), e.st.st_mtime, 0);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    std::string full = root + "/" + e.rel;
    ContextEntry& d = described.emplace_back();
    d.path = e.rel;
    d.mode = e.st.st_mode & 07777;
    if (S_ISDIR(e.st.st_mode)) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      d.type = ContextEntry::Type::kDir;
    } else if (S_ISLNK(e.st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(full.c_str(), target, sizeof target - 1);
      target[n < 0 ? 0 : n] = '\0';
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_symlink(entry.get(), target);
      d.type = ContextEntry::Type::kSymlink;
      d.target = target;
    } else {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_size(entry.get(), e.st.st_size);
      d.type = ContextEntry::Type::kFile;
      d.size = e.st.st_size;
    }
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK)
      return Status::Internal("cannot pack " + e.rel + ": " + archive_error_string(a.get()));
    if (S_ISREG(e.st.st_mode)) {
      std::ifstream in(full, std::ios::binary);
      if (!in) return Status::Internal("cannot read " + full);
      Sha256 content;
      while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        if (in.gcount() > 0) {
          archive_write_data(a.get(), buf.data(), static_cast<size_t>(in.gcount()));
          content.Update(buf.data(), static_cast<size_t>(in.gcount()));
        }
      }
      d.sha256 = content.HexDigest();
      stats->files++;
      stats->bytes += e.st.st_size;
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return Status::Internal("cannot finish " + tar_path + ": " + archive_error_string(a.get()));
  if (stat(tar_path.c_str(), &st) == 0) stats->packed_bytes = st.st_size;
  stats->content_digest = SourceDigest(described);
  return Status::OK();
}

}  // namespace bim
