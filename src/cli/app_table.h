// `bim apps` in human form: bimd's app list read as a stream of JSON events into the few fields the
// table shows, then printed. At 10,000 apps bimd's answer is about 2 MB; building a full JSON tree of
// it (a std::map per app) was most of the command's time, so the table never builds one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace bim {

// One line of the table, as bimd's GET /v1/apps names the fields.
struct AppRow {
  std::string app;
  std::string url;
  std::string live;           // release name, or empty when nothing is live (JSON null)
  std::string latest;         // the newest release, or empty
  std::string latest_status;  // its status ("live", "failed", ...)
  int64_t updated_at_ms = 0;  // Unix ms, 0 when unknown
};

// Reads the objects of the top-level "apps" array of `text` into `rows` (appended, in order). Other
// fields and nested values are skipped. Fails with Internal if `text` is not JSON or has no "apps" array.
Status ParseAppRows(std::string_view text, std::vector<AppRow>* rows);

// The table: a header line and one line per row; `now_ms` (Unix ms) is the clock "UPDATED" counts from.
std::string RenderAppTable(const std::vector<AppRow>& rows, int64_t now_ms);

}  // namespace bim
