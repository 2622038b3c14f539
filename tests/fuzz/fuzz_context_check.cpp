// libFuzzer target: the build-context tar check. Any input must give OK or a one-line 4xx Status, never
// a crash. And the property that matters, checked by the kernel rather than by code like the one under
// test: no entry of an accepted tar can resolve outside the context. Each accepted tar is extracted
// into a scratch directory the way Docker extracts it (archive order, parents created as needed,
// links created as links) and every entry, symlink targets followed, is opened with openat2's
// RESOLVE_BENEATH, which fails with EXDEV the moment a path would leave the directory (through "..",
// an absolute symlink or a chain of relative ones). Writing an entry beneath a symlink is checked with
// RESOLVE_NO_SYMLINKS on its parent.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"
#include "server/context_check.h"

namespace {

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n", what.c_str());
  std::abort();
}

int OpenBeneath(int root, const std::string& path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
}

std::string Clean(std::string name) {
  while (name.starts_with("./")) name.erase(0, 2);
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  return name;
}

struct Entry {
  std::string name;
  mode_t type;
  std::string symlink;
  std::string hardlink;
};

// Creates `name`'s missing parent directories inside `root` and returns an fd of its parent, or -1
// when a parent is not a real directory of the context (a symlink, a file, or outside).
int ParentOf(int root, const std::string& name, std::string* base) {
  size_t slash = name.rfind('/');
  *base = slash == std::string::npos ? name : name.substr(slash + 1);
  if (slash == std::string::npos) return dup(root);
  std::string dir = name.substr(0, slash);
  for (size_t pos = 0;; pos = dir.find('/', pos) + 1) {
    size_t next = dir.find('/', pos);
    std::string prefix = dir.substr(0, next);
    mkdirat(root, prefix.c_str(), 0700);  // fails harmlessly if it exists
    if (next == std::string::npos) break;
  }
  int fd = OpenBeneath(root, dir, O_PATH | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  if (fd < 0 && errno == EXDEV) Violation("entry " + name + " has a parent outside the context");
  if (fd < 0 && errno == ELOOP) Violation("entry " + name + " lies beneath a symlink");
  if (fd < 0 && errno == ENOTDIR) Violation("entry " + name + " lies beneath a file");
  return fd;
}

void VerifyAccepted(const uint8_t* data, size_t size) {
  std::vector<Entry> entries;
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, data, size) != ARCHIVE_OK) Violation("accepted tar does not open");
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry entry{Clean(archive_entry_pathname(e) ? archive_entry_pathname(e) : ""), archive_entry_filetype(e),
                archive_entry_symlink(e) ? archive_entry_symlink(e) : "",
                archive_entry_hardlink(e) ? Clean(archive_entry_hardlink(e)) : ""};
    if (entry.name.empty() || entry.name[0] == '/') Violation("empty or absolute name accepted");
    if (entry.hardlink.empty() && entry.type != AE_IFREG && entry.type != AE_IFDIR && entry.type != AE_IFLNK)
      Violation("device, fifo or socket accepted: " + entry.name);
    entries.push_back(entry);
  }
  archive_read_free(a);

  char tmpl[] = "/tmp/bim-fuzz-ctx-XXXXXX";
  if (!mkdtemp(tmpl)) return;
  int root = open(tmpl, O_PATH | O_DIRECTORY);
  for (const Entry& entry : entries) {
    std::string base;
    int parent = ParentOf(root, entry.name, &base);
    if (parent < 0) continue;
    if (!entry.hardlink.empty()) {
      int target = OpenBeneath(root, entry.hardlink, O_PATH | O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
      if (target < 0) Violation("hardlink " + entry.name + " -> " + entry.hardlink + " is not a file of the context");
      struct stat st;
      if (fstat(target, &st) != 0 || !S_ISREG(st.st_mode)) Violation("hardlink " + entry.name + " to a non-file");
      close(target);
      linkat(root, entry.hardlink.c_str(), parent, base.c_str(), 0);
    } else if (entry.type == AE_IFDIR) {
      mkdirat(parent, base.c_str(), 0700);
    } else if (entry.type == AE_IFLNK) {
      symlinkat(entry.symlink.c_str(), parent, base.c_str());
    } else {
      int fd = openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
      if (fd >= 0) close(fd);
    }
    close(parent);
  }
  // Every entry, with every symlink on the way (its own included) followed, stays beneath the root.
  for (const Entry& entry : entries) {
    int fd = OpenBeneath(root, entry.name, O_PATH, RESOLVE_BENEATH);
    if (fd < 0 && errno == EXDEV) Violation("entry " + entry.name + " resolves outside the context");
    if (fd >= 0) close(fd);
  }
  close(root);
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bim::ContextLimits limits;
  limits.max_entries = 1000;
  limits.max_unpacked_bytes = 1 << 20;
  bim::Status s = bim::CheckBuildContext(data, size, limits, "Dockerfile");
  if (s.ok()) {
    VerifyAccepted(data, size);
  } else {
    if (s.code() != bim::Code::kInvalidArgument && s.code() != bim::Code::kTooLarge) std::abort();
    if (s.message().find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
