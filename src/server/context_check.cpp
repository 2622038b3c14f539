#include "server/context_check.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <sstream>
#include <vector>

#include "core/context_tree.h"
#include "core/terminal_text.h"

namespace bim {

namespace {

bool HasBadBytes(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

bool StaysInside(const std::string& base_dir, const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  std::vector<std::string> parts;
  auto push = [&parts](const std::string& path) {
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/')) {
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else {
        parts.push_back(part);
      }
    }
    return true;
  };
  return push(base_dir) && push(rel);
}

ContextChecker::ContextChecker(const ContextLimits& limits, std::string dockerfile)
    : limits_(limits), dockerfile_(std::move(dockerfile)) {}

Status ContextChecker::Add(const ContextEntryMeta& e) {
  if (++entries_ > limits_.max_entries)
    return Status::TooLarge("build context has more than " + std::to_string(limits_.max_entries) +
                            " files (add build outputs and dependencies to .dockerignore)");
  if (HasBadBytes(e.name) || e.name.find('\0') != std::string::npos)
    return Status::InvalidArgument("build context entry \"" + EscapeTerminalText(e.name) + "\" has an unprintable name");
  // A NUL would cut the target short where it is written out: "x/../..\0y" checks as inside but lands as "x/../..".
  if ((e.kind == ContextEntryMeta::kSymlink || e.kind == ContextEntryMeta::kHardlink) && HasBadBytes(e.link))
    return Status::InvalidArgument("build context link \"" + EscapeTerminalText(e.name) + "\" has an unprintable target");
  // Where names and links may point is the tree's rule (symlink chains resolved, see context_tree.h).
  Status s;
  switch (e.kind) {
    case ContextEntryMeta::kFile: s = tree_.Add(e.name, ContextTree::Type::kFile); break;
    case ContextEntryMeta::kDir: s = tree_.Add(e.name, ContextTree::Type::kDirectory); break;
    case ContextEntryMeta::kSymlink: s = tree_.Add(e.name, ContextTree::Type::kSymlink, e.link); break;
    case ContextEntryMeta::kHardlink: s = tree_.Add(e.name, ContextTree::Type::kHardlink, e.link); break;
    case ContextEntryMeta::kOther:
      return Status::InvalidArgument("build context entry \"" + EscapeTerminalText(ContextTree::Normalize(e.name)) +
                                     "\" is a device, socket or fifo (only files, directories and links)");
  }
  if (!s.ok()) return s;
  // A hostile header can claim any size, negative or near INT64_MAX: compare without overflowing.
  int64_t size = e.size > 0 ? e.size : 0;
  bytes_ = size > limits_.max_unpacked_bytes - bytes_ ? limits_.max_unpacked_bytes + 1 : bytes_ + size;
  if (bytes_ > limits_.max_unpacked_bytes)
    return Status::TooLarge("build context unpacks to more than " + std::to_string(limits_.max_unpacked_bytes) +
                            " bytes (add large files to .dockerignore)");
  if (ContextTree::Normalize(e.name) == dockerfile_ && e.kind == ContextEntryMeta::kFile) saw_dockerfile_ = true;
  return Status::OK();
}

Status ContextChecker::Finish() {
  if (Status s = tree_.Finish(); !s.ok()) return s;
  if (!dockerfile_.empty() && !saw_dockerfile_)
    return Status::InvalidArgument("the app folder has no " + dockerfile_ +
                                   " (write one, or run `bim init` to generate it)");
  return Status::OK();
}

Status CheckManifest(const std::vector<ContextEntry>& entries, const ContextLimits& limits,
                     const std::string& dockerfile) {
  ContextChecker checker(limits, dockerfile);
  for (const ContextEntry& e : entries) {
    ContextEntryMeta meta;
    meta.name = e.path;
    meta.size = e.size;
    switch (e.type) {
      case ContextEntry::Type::kFile: meta.kind = ContextEntryMeta::kFile; break;
      case ContextEntry::Type::kDir: meta.kind = ContextEntryMeta::kDir; break;
      case ContextEntry::Type::kSymlink:
        meta.kind = ContextEntryMeta::kSymlink;
        meta.link = e.target;
        break;
    }
    if (Status s = checker.Add(meta); !s.ok()) return s;
  }
  return checker.Finish();
}

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
  ContextChecker checker(limits, dockerfile);
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      return Status::InvalidArgument("build context tar is corrupt or truncated: " + ErrorOf(a));
    ContextEntryMeta meta;
    const char* raw = archive_entry_pathname(entry);
    meta.name = raw ? raw : "";
    mode_t type = archive_entry_filetype(entry);
    if (const char* hard = archive_entry_hardlink(entry)) {
      meta.kind = ContextEntryMeta::kHardlink;
      meta.link = hard;
    } else if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      meta.kind = ContextEntryMeta::kSymlink;
      meta.link = target ? target : "";
    } else {
      meta.kind = type == AE_IFREG ? ContextEntryMeta::kFile : type == AE_IFDIR ? ContextEntryMeta::kDir
                                                                                : ContextEntryMeta::kOther;
    }
    meta.size = archive_entry_size(entry);
    if (Status s = checker.Add(meta); !s.ok()) return s;
    // Read (and discard) the data so a truncated stream is detected here, not inside Docker.
    la_ssize_t n;
    char buf[65536];
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
    }
    if (n < 0)
      return Status::InvalidArgument("build context tar is corrupt or truncated: " + ErrorOf(a));
  }
  return checker.Finish();
}

}  // namespace

}  // namespace bim
