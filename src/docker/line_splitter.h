// LineSplitter: turns a byte stream from dockerd (build output, container logs) into lines, never
// holding more than one line of bounded size. Private to src/docker.
//
// A tenant controls what its build and its container print: a line without a newline could otherwise
// grow bimd's memory without limit. A line longer than the cap is delivered cut at the cap with
// " [line truncated]" appended, and the rest of it, up to the next newline, is dropped.
// Not thread-safe (one splitter per stream).
#pragma once

#include <string>
#include <string_view>

#include "docker/docker_client.h"

namespace bim {

class LineSplitter {
 public:
  LineSplitter(const LineSink& sink, size_t max_line) : sink_(sink), max_(max_line) {}

  void Feed(std::string_view data) {
    while (!data.empty()) {
      size_t nl = data.find('\n');
      std::string_view piece = data.substr(0, nl);
      if (!dropping_) {
        size_t room = max_ - line_.size();
        line_.append(piece.substr(0, room));
        if (piece.size() > room) {
          Deliver(true);
          dropping_ = true;
        }
      }
      if (nl == std::string_view::npos) return;
      if (!dropping_) Deliver(false);
      dropping_ = false;
      data.remove_prefix(nl + 1);
    }
  }

  // Delivers what is left after the last newline, if anything.
  void Finish() {
    if (!dropping_ && !line_.empty()) Deliver(false);
    dropping_ = false;
    line_.clear();
  }

 private:
  void Deliver(bool truncated) {
    if (!truncated && !line_.empty() && line_.back() == '\r') line_.pop_back();
    if (truncated) line_ += " [line truncated]";
    if (sink_) sink_(line_);
    line_.clear();
  }

  const LineSink& sink_;
  const size_t max_;
  std::string line_;
  bool dropping_ = false;
};

}  // namespace bim
