#include "support/context_tar.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <iterator>
#include <memory>

namespace bim::testing {

bool WriteContextTar(const std::string& tar_path,
                     const std::vector<std::pair<std::string, std::string>>& files, std::string* error) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  auto fail = [&](const std::string& what) {
    const char* reason = archive_error_string(a.get());
    *error = "writing " + tar_path + ": " + what + ": " + (reason ? reason : "unknown error");
    return false;
  };
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK) return fail("set format");
  if (archive_write_open_filename(a.get(), tar_path.c_str()) != ARCHIVE_OK) return fail("open");
  for (const auto& [name, contents] : files) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0755);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(contents.size()));
    archive_entry_set_mtime(entry.get(), 1700000000, 0);  // fixed: same files, same tar
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) return fail(name);
    if (!contents.empty() &&
        archive_write_data(a.get(), contents.data(), contents.size()) != static_cast<la_ssize_t>(contents.size())) {
      return fail(name);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail("close");
  return true;
}

bool WriteHelloContextTar(const std::string& tar_path, std::string* error) {
  const std::string binary_path = BIM_BINARY_DIR "/examples/hello-server";
  std::ifstream in(binary_path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + binary_path + " (build it: make hello-server)";
    return false;
  }
  std::string binary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return WriteContextTar(tar_path,
                         {{"Dockerfile", "FROM scratch\nCOPY hello-server /hello-server\nCMD [\"/hello-server\"]\n"},
                          {"hello-server", binary}},
                         error);
}

namespace {
la_ssize_t AppendTo(archive*, void* user, const void* buf, size_t n) {
  static_cast<std::string*>(user)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}
}  // namespace

std::string Tar(const std::vector<TarEntry>& entries, bool gzip) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_open(a, &out, nullptr, AppendTo, nullptr);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_perm(entry, 0644);
    switch (e.kind) {
      case TarEntry::kFile:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.data.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.data.c_str());
        break;
      case TarEntry::kCharDevice:
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdevmajor(entry, 1);
        archive_entry_set_rdevminor(entry, 3);
        break;
      case TarEntry::kFifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
    }
    archive_write_header(a, entry);
    if (e.kind == TarEntry::kFile && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

}  // namespace bim::testing
