#include "cli/output.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "base/file_util.h"
#include "core/terminal_text.h"

namespace bim {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return exit_code::kOk;
    case Code::kInvalidArgument:
    case Code::kTooLarge: return exit_code::kUsage;
    case Code::kUnauthenticated:
    case Code::kPermissionDenied: return exit_code::kAuth;
    case Code::kNotFound: return exit_code::kNotFound;
    case Code::kUnavailable:
    case Code::kDeadlineExceeded: return exit_code::kUnavailable;
    case Code::kConflict:
    case Code::kResourceExhausted: return exit_code::kConflict;
    case Code::kCancelled: return exit_code::kInterrupted;
    default: return exit_code::kFailed;
  }
}

// Everything printed for a person goes through EscapeTerminalText, line by line: tenants' text (build
// output, logs, failure messages quoting them) must not forge lines or drive the terminal.
std::string EscapeLines(const std::string& text) {
  std::string out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out += EscapeTerminalText(std::string_view(text).substr(start, nl - start)) + "\n";
  return out + EscapeTerminalText(std::string_view(text).substr(start));
}

void Output::Progress(const std::string& line) const {
  if (json_) return;
  std::fprintf(stderr, "%s\n", EscapeLines(line).c_str());
}

void Output::Text(const std::string& text) const {
  if (json_) return;
  std::string safe = EscapeLines(text);
  std::fwrite(safe.data(), 1, safe.size(), stdout);
  std::fflush(stdout);
}

void Output::LogLines(const std::string& title, const nlohmann::json& lines) const {
  if (json_ || !lines.is_array() || lines.empty()) return;
  std::fprintf(stderr, "%s\n", EscapeTerminalText(title).c_str());
  for (const auto& line : lines)
    if (line.is_string()) std::fprintf(stderr, "  %s\n", EscapeTerminalText(line.get<std::string>()).c_str());
}

void Output::Json(const nlohmann::json& doc) const {
  if (!json_) return;
  std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

int Output::Fail(const Status& s, nlohmann::json doc) const {
  std::fprintf(stderr, "error: %s\n", EscapeTerminalText(s.message()).c_str());
  if (json_) {
    doc["ok"] = false;
    doc["error"] = {{"code", s.CodeName()}, {"message", s.message()}};
    Json(doc);
  }
  return ExitCodeFor(s);
}

bool Output::StderrIsTty() { return isatty(2); }

std::string Column(std::string s, size_t width) {
  std::string out;
  AppendColumn(&out, s, width);
  return out;
}

void AppendColumn(std::string* out, std::string_view s, size_t width) {
  out->append(s);
  if (s.size() < width) out->append(width - s.size(), ' ');
  out->append("  ");
}

std::string HumanBytes(int64_t bytes) {
  char buf[32];
  if (bytes < 1024) return std::to_string(bytes) + " B";
  if (bytes < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KB", bytes / 1024.0);
  else if (bytes < 1024LL * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1073741824.0);
  return buf;
}

std::string HumanMillis(int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000.0);
  return buf;
}

std::string HumanAgo(int64_t unix_ms) { return HumanAgo(unix_ms, NowMillis()); }

std::string HumanAgo(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0) return "-";
  int64_t s = (now_ms - unix_ms) / 1000;
  if (s < 60) return std::to_string(s < 0 ? 0 : s) + "s ago";
  if (s < 3600) return std::to_string(s / 60) + "m ago";
  if (s < 86400) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

}  // namespace bim
