// Streaming reader for multipart/form-data bodies (RFC 7578 / RFC 2046), fed piece by piece as the
// body arrives, so a part of any size passes through with bounded memory: at most one piece plus
// the delimiter length, and at most max_header_bytes of one part's headers.
//
// Thread-safety: one reader per body; not shared between threads.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace bim {

// Parameters of a header value like `form-data; name="meta"; filename="a.tar"` or
// `multipart/form-data; boundary=xyz`: the first token lower-cased in *kind, the parameters with
// lower-cased names and unquoted values.
void ParseHeaderParams(std::string_view value, std::string* kind, std::map<std::string, std::string>* params);

// The boundary of a multipart/form-data Content-Type; InvalidArgument naming the problem otherwise.
Status MultipartBoundary(std::string_view content_type, std::string* boundary);

struct MultipartPart {
  std::string name;          // the form field name (Content-Disposition name=)
  std::string filename;      // "" when none
  std::string content_type;  // "" when none
};

class MultipartReader {
 public:
  // Called when a part's headers are complete; return false to stop (Feed then returns Cancelled).
  using PartHandler = std::function<bool(const MultipartPart& part)>;
  // Called with the part's data, in pieces; return false to stop.
  using DataHandler = std::function<bool(std::string_view data)>;

  MultipartReader(std::string boundary, PartHandler on_part, DataHandler on_data, size_t max_header_bytes = 8192);

  // Takes the next piece of the body. InvalidArgument for a malformed body (naming what is wrong),
  // Cancelled when a handler returned false; after a failure every call fails the same way.
  Status Feed(std::string_view piece);
  // Call when the body ended: InvalidArgument unless the closing delimiter was seen.
  Status Finish();

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kData, kDone, kFailed };
  Status ParseHeaders(std::string_view block);
  Status Fail(Status s);

  const std::string delimiter_;  // "\r\n--" + boundary
  PartHandler on_part_;
  DataHandler on_data_;
  const size_t max_header_bytes_;
  State state_ = State::kPreamble;
  std::string pending_;          // bytes not yet consumed
  Status failure_;
};

}  // namespace bim
