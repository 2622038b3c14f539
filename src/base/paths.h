// Where bim's data files (templates) live at run time, so a binary works from any directory.
#pragma once

#include <string>
#include <string_view>

namespace bim {

// Finds templates/<kind> by looking, in order, next to the running binary (<exe>/../share/bim/templates/
// <kind>, for an installed bim), in the tree the binary was built in (<exe>/../templates/<kind>, for
// build/bim in a checkout) and in the source tree it was compiled from (BIM_SOURCE_DIR). A candidate
// counts only if it holds `marker_file`. Returns the directory, or "" if none qualifies.
std::string FindTemplateDir(std::string_view kind, std::string_view marker_file);

}  // namespace bim
