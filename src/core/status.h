// Status: the outcome of an operation that can fail, in the LevelDB style.
//
// Every fallible function in bim returns a Status (results go through out-parameters). A Status is
// either OK or carries a Code and a one-line, human-readable message that names the problem and, where
// there is one, the fix. Messages never contain secret values (env values, tokens).
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads freely.
#pragma once

#include <string>
#include <utility>

namespace bim {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // the caller sent something malformed; HTTP 400, CLI exit 2
  kNotFound,           // HTTP 404
  kConflict,           // e.g. a deploy already running with --no-wait; HTTP 409
  kUnauthenticated,    // missing or wrong token; HTTP 401
  kPermissionDenied,   // token not allowed to touch this app; HTTP 403
  kFailedPrecondition, // the operation ran and failed (build error, unhealthy release); HTTP 422
  kUnavailable,        // a dependency (dockerd, nginx, bimd) did not answer; HTTP 503
  kDeadlineExceeded,   // timed out; HTTP 504
  kCancelled,          // the caller went away or pressed Ctrl-C
  kTooLarge,           // a size limit was hit; HTTP 413
  kResourceExhausted,  // the caller's share is used up (concurrent requests, streams); HTTP 429
  kInternal,           // a bug or an unexpected state; HTTP 500
};

class Status {
 public:
  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
  static Status Unauthenticated(std::string m) { return Status(Code::kUnauthenticated, std::move(m)); }
  static Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
  static Status FailedPrecondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status DeadlineExceeded(std::string m) { return Status(Code::kDeadlineExceeded, std::move(m)); }
  static Status Cancelled(std::string m) { return Status(Code::kCancelled, std::move(m)); }
  static Status TooLarge(std::string m) { return Status(Code::kTooLarge, std::move(m)); }
  static Status ResourceExhausted(std::string m) { return Status(Code::kResourceExhausted, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  const std::string& message() const { return message_; }

  // The message prefixed with context, keeping the code: Status::NotFound("x").Wrap("loading y")
  // gives "loading y: x".
  Status Wrap(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

  // Stable lower-case name of the code ("invalid_argument"), used in JSON error bodies.
  const char* CodeName() const;
  // The HTTP status bimd answers with for this code.
  int HttpStatus() const;
  // Inverse of CodeName; unknown names map to kInternal.
  static Code CodeFromName(const std::string& name);

  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace bim
