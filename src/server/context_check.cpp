#include "server/context_check.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <vector>

#include "core/context_tree.h"
#include "core/terminal_text.h"

namespace bim {

namespace {

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

ArchivePtr NewReader() {
  ArchivePtr a(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  return a;
}

// archive_error_string may return NULL (e.g. a bare ARCHIVE_FATAL); never build a string from it.
std::string ErrorOf(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? e : "unknown error";
}

Status CheckOpened(archive* a, const ContextLimits& limits, const std::string& dockerfile);

}  // namespace

Status CheckBuildContext(const std::string& path, const ContextLimits& limits, const std::string& dockerfile) {
  ArchivePtr a = NewReader();
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status::InvalidArgument("build context is not a readable tar: " + ErrorOf(a.get()));
  return CheckOpened(a.get(), limits, dockerfile);
}

Status CheckBuildContext(const void* data, size_t size, const ContextLimits& limits, const std::string& dockerfile) {
  ArchivePtr a = NewReader();
  if (archive_read_open_memory(a.get(), data, size) != ARCHIVE_OK)
    return Status::InvalidArgument("build context is not a readable tar: " + ErrorOf(a.get()));
  return CheckOpened(a.get(), limits, dockerfile);
}

Status ReadContextFile(const std::string& path, const std::string& name, size_t max_bytes, std::string* out) {
  out->clear();
  ArchivePtr a = NewReader();
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status::InvalidArgument("build context is not a readable tar: " + ErrorOf(a.get()));
  archive_entry* entry = nullptr;
  for (int rc; (rc = archive_read_next_header(a.get(), &entry)) != ARCHIVE_EOF;) {
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      return Status::InvalidArgument("build context tar is corrupt or truncated: " + ErrorOf(a.get()));
    if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) ||
        ContextTree::Normalize(archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "") != name)
      continue;
    char buf[65536];
    for (la_ssize_t n; (n = archive_read_data(a.get(), buf, sizeof buf)) != 0;) {
      if (n < 0) return Status::InvalidArgument("build context tar is corrupt or truncated: " + ErrorOf(a.get()));
      if (out->size() + static_cast<size_t>(n) > max_bytes)
        return Status::TooLarge(name + " is larger than " + std::to_string(max_bytes) + " bytes");
      out->append(buf, static_cast<size_t>(n));
    }
    return Status::OK();
  }
  return Status::NotFound("the build context has no " + name);
}

namespace {

Status CheckOpened(archive* a, const ContextLimits& limits, const std::string& dockerfile) {
  int64_t entries = 0, bytes = 0;
  bool saw_dockerfile = false;
  ContextTree tree;
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      return Status::InvalidArgument("build context tar is corrupt or truncated: " + ErrorOf(a));
    if (++entries > limits.max_entries)
      return Status::TooLarge("build context has more than " + std::to_string(limits.max_entries) +
                              " files (add build outputs and dependencies to .dockerignore)");
    const char* raw = archive_entry_pathname(entry);
    std::string name = raw ? raw : "";
    mode_t type = archive_entry_filetype(entry);
    Status s;
    if (const char* hard = archive_entry_hardlink(entry)) {
      s = tree.Add(name, ContextTree::Type::kHardlink, hard);
    } else if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      s = tree.Add(name, ContextTree::Type::kSymlink, target ? target : "");
    } else if (type == AE_IFREG || type == AE_IFDIR) {
      s = tree.Add(name, type == AE_IFREG ? ContextTree::Type::kFile : ContextTree::Type::kDirectory);
    } else {
      return Status::InvalidArgument("build context entry \"" + EscapeTerminalText(ContextTree::Normalize(name)) +
                                     "\" is a device, socket or fifo (only files, directories and links)");
    }
    if (!s.ok()) return s;
    // A hostile header can claim any size, negative or near INT64_MAX: compare without overflowing.
    int64_t size = archive_entry_size(entry) > 0 ? archive_entry_size(entry) : 0;
    bytes = size > limits.max_unpacked_bytes - bytes ? limits.max_unpacked_bytes + 1 : bytes + size;
    if (bytes > limits.max_unpacked_bytes)
      return Status::TooLarge("build context unpacks to more than " + std::to_string(limits.max_unpacked_bytes) +
                              " bytes (add large files to .dockerignore)");
    if (ContextTree::Normalize(name) == dockerfile && type == AE_IFREG && !archive_entry_hardlink(entry))
      saw_dockerfile = true;
    // Read (and discard) the data so a truncated stream is detected here, not inside Docker.
    la_ssize_t n;
    char buf[65536];
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
    }
    if (n < 0)
      return Status::InvalidArgument("build context tar is corrupt or truncated: " + ErrorOf(a));
  }
  if (Status s = tree.Finish(); !s.ok()) return s;
  if (!saw_dockerfile)
    return Status::InvalidArgument("the app folder has no " + dockerfile +
                                   " (write one, or run `bim init` to generate it)");
  return Status::OK();
}

}  // namespace

}  // namespace bim
