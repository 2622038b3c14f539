#include "server/sub_context.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "core/dockerignore.h"

namespace bim {

namespace {

using Reader = std::unique_ptr<archive, decltype(&archive_read_free)>;
using Writer = std::unique_ptr<archive, decltype(&archive_write_free)>;

Status OpenReader(const std::string& path, Reader* out) {
  Reader a(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status::Internal("cannot read the build context " + path);
  *out = std::move(a);
  return Status::OK();
}

// An entry's name without "./" prefixes and trailing '/'.
std::string EntryName(const char* raw) {
  std::string s = raw ? raw : "";
  while (s.starts_with("./")) s.erase(0, 2);
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// The name inside `dir` ("" for `dir` itself), or false if the entry is not under it.
bool Under(const std::string& name, const std::string& dir, std::string* rel) {
  if (name == dir) {
    rel->clear();
    return true;
  }
  if (!name.starts_with(dir + "/")) return false;
  *rel = name.substr(dir.size() + 1);
  return true;
}

}  // namespace

Status ExtractSubContext(const std::string& context_path, const std::string& dir, const std::string& dockerfile,
                         const std::string& service, const std::string& out_path) {
  const std::string who = "service " + service + ": build context " + dir;
  // Pass 1: the sub-folder's own .dockerignore, if any.
  DockerIgnore ignore;
  Reader in(nullptr, archive_read_free);
  if (Status s = OpenReader(context_path, &in); !s.ok()) return s;
  archive_entry* entry = nullptr;
  bool found_dir = false;
  while (archive_read_next_header(in.get(), &entry) == ARCHIVE_OK) {
    std::string rel;
    if (!Under(EntryName(archive_entry_pathname(entry)), dir, &rel)) continue;
    found_dir = true;
    if (rel != ".dockerignore" || archive_entry_filetype(entry) != AE_IFREG) continue;
    std::string text;
    char buf[65536];
    for (la_ssize_t n; (n = archive_read_data(in.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
    if (Status s = DockerIgnore::Parse(text, &ignore); !s.ok()) return Status::InvalidArgument(who + "/.dockerignore: " + s.message());
  }
  if (!found_dir)
    return Status::InvalidArgument(who + " is not in the upload (is the folder there, or left out by .dockerignore?)");

  // Pass 2: copy the entries under it, renamed.
  if (Status s = OpenReader(context_path, &in); !s.ok()) return s;
  Writer out(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(out.get());
  if (archive_write_open_filename(out.get(), out_path.c_str()) != ARCHIVE_OK)
    return Status::Internal("cannot write " + out_path);
  bool saw_dockerfile = false;
  int rc;
  while ((rc = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    std::string rel;
    if (!Under(EntryName(archive_entry_pathname(entry)), dir, &rel) || rel.empty()) continue;
    bool always = rel == dockerfile || rel == ".dockerignore";
    if (!always && ignore.Excludes(rel)) continue;
    if (rel == dockerfile && archive_entry_filetype(entry) == AE_IFREG) saw_dockerfile = true;
    archive_entry_set_pathname(entry, rel.c_str());
    if (const char* hard = archive_entry_hardlink(entry)) {
      std::string target;
      if (!Under(EntryName(hard), dir, &target) || target.empty())
        return Status::InvalidArgument(who + " has " + rel + ", a hard link to a file outside it (copy the file instead)");
      archive_entry_set_hardlink(entry, target.c_str());
    }
    if (archive_write_header(out.get(), entry) != ARCHIVE_OK) return Status::Internal("cannot write " + out_path);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(in.get(), buf, sizeof buf)) > 0)
      if (archive_write_data(out.get(), buf, static_cast<size_t>(n)) != n) return Status::Internal("cannot write " + out_path);
    if (n < 0) return Status::InvalidArgument(who + ": the upload is corrupt");
  }
  if (rc != ARCHIVE_EOF) return Status::InvalidArgument(who + ": the upload is corrupt");
  if (archive_write_close(out.get()) != ARCHIVE_OK) return Status::Internal("cannot write " + out_path);
  if (!saw_dockerfile)
    return Status::InvalidArgument(who + " has no " + dockerfile + " (write one, or point build.dockerfile at it)");
  return Status::OK();
}

}  // namespace bim
