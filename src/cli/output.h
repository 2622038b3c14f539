// How the CLI talks to people and programs. Human mode: progress and results for a terminal. JSON
// mode (--json): exactly one JSON document on stdout, nothing else there; progress is silent. In both
// modes a failure prints one line "error: <message>" on stderr and the process exits with a stable
// code (ExitCodeFor).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace bim {

// Stable exit codes (documented in the README and `bim --help`).
namespace exit_code {
inline constexpr int kOk = 0;
inline constexpr int kFailed = 1;        // the operation ran and failed (build error, unhealthy release, ...)
inline constexpr int kUsage = 2;         // bad flags, bad bim.toml/.env, invalid names
inline constexpr int kAuth = 3;          // not logged in, bad or revoked token, not allowed
inline constexpr int kNotFound = 4;      // no such app or release
inline constexpr int kUnavailable = 5;   // bimd (or its Docker/nginx) could not be reached
inline constexpr int kConflict = 6;      // the app is busy (with --no-wait)
inline constexpr int kInterrupted = 130; // Ctrl-C
}  // namespace exit_code

int ExitCodeFor(const Status& s);

class Output {
 public:
  explicit Output(bool json) : json_(json) {}
  bool json() const { return json_; }

  // Human progress line on stderr (silent in JSON mode).
  void Progress(const std::string& line) const;
  // Human result text on stdout (silent in JSON mode).
  void Text(const std::string& text) const;
  // Human mode only: `title` and then each of `lines` (a JSON array of strings, e.g. a failed
  // container's last log lines) indented, on stderr, control characters escaped.
  void LogLines(const std::string& title, const nlohmann::json& lines) const;
  // The JSON document on stdout (JSON mode only).
  void Json(const nlohmann::json& doc) const;
  // Prints "error: <message>" on stderr (both modes) and, in JSON mode, {"ok":false,"error":{...}}
  // merged into `doc` on stdout. Returns the exit code for `s`.
  int Fail(const Status& s, nlohmann::json doc = nlohmann::json::object()) const;

  // Whether stderr is a terminal (for colour and \r progress).
  static bool StderrIsTty();

 private:
  bool json_;
};

// `s` padded with spaces to `width`, plus two spaces: one column of a plain-text table.
std::string Column(std::string s, size_t width);
// The same, appended to `out` (for a table of many rows).
void AppendColumn(std::string* out, std::string_view s, size_t width);
// "1.3 MB", "512 B".
std::string HumanBytes(int64_t bytes);
// "1.9s", "250ms".
std::string HumanMillis(int64_t ms);
// "3m ago" from a Unix-ms timestamp ("-" for 0), counted from now or from `now_ms`.
std::string HumanAgo(int64_t unix_ms);
std::string HumanAgo(int64_t unix_ms, int64_t now_ms);

}  // namespace bim
