#include "base/paths.h"

#include <filesystem>
#include <vector>

namespace bim {

std::string FindTemplateDir(std::string_view kind, std::string_view marker_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "share/bim/templates" / kind);
    candidates.push_back(exe.parent_path().parent_path() / "templates" / kind);
  }
#ifdef BIM_SOURCE_DIR
  candidates.push_back(fs::path(BIM_SOURCE_DIR) / "templates" / kind);
#endif
  for (const auto& c : candidates)
    if (fs::exists(c / marker_file, ec)) return c.string();
  return "";
}

}  // namespace bim
