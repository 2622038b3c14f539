#include "core/status.h"

namespace bim {

namespace {
struct CodeRow {
  Code code;
  const char* name;
  int http;
};
constexpr CodeRow kCodes[] = {
    {Code::kOk, "ok", 200},
    {Code::kInvalidArgument, "invalid_argument", 400},
    {Code::kNotFound, "not_found", 404},
    {Code::kConflict, "conflict", 409},
    {Code::kUnauthenticated, "unauthenticated", 401},
    {Code::kPermissionDenied, "permission_denied", 403},
    {Code::kFailedPrecondition, "failed", 422},
    {Code::kUnavailable, "unavailable", 503},
    {Code::kDeadlineExceeded, "deadline_exceeded", 504},
    {Code::kCancelled, "cancelled", 499},
    {Code::kTooLarge, "too_large", 413},
    {Code::kResourceExhausted, "too_many_requests", 429},
    {Code::kInternal, "internal", 500},
};
}  // namespace

const char* Status::CodeName() const {
  for (const auto& row : kCodes)
    if (row.code == code_) return row.name;
  return "internal";
}

int Status::HttpStatus() const {
  for (const auto& row : kCodes)
    if (row.code == code_) return row.http;
  return 500;
}

Code Status::CodeFromName(const std::string& name) {
  for (const auto& row : kCodes)
    if (name == row.name) return row.code;
  return Code::kInternal;
}

}  // namespace bim
