// libFuzzer target: the build-context tar check. Any input must give OK or a one-line 4xx Status,
// never a crash, and an accepted tar must really hold only safe entries (re-checked here with
// libarchive independently of the code under test).
#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/status.h"
#include "server/context_check.h"

namespace {

void VerifyAccepted(const uint8_t* data, size_t size) {
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, data, size) != ARCHIVE_OK) std::abort();
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    if (name.empty() || name[0] == '/') std::abort();
    mode_t t = archive_entry_filetype(e);
    if (archive_entry_hardlink(e) == nullptr && t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK) std::abort();
    if (t == AE_IFLNK && archive_entry_symlink(e) && archive_entry_symlink(e)[0] == '/') std::abort();
  }
  archive_read_free(a);
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
