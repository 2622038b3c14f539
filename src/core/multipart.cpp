#include "core/multipart.h"

#include <cctype>

namespace bim {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void ParseHeaderParams(std::string_view value, std::string* kind, std::map<std::string, std::string>* params) {
  kind->clear();
  params->clear();
  size_t i = 0;
  auto segment_end = [&] {
    while (i < value.size() && value[i] != ';') ++i;
  };
  size_t start = i;
  segment_end();
  *kind = Lower(Trim(value.substr(start, i - start)));
  while (i < value.size()) {
    ++i;  // ';'
    size_t key_start = i;
    while (i < value.size() && value[i] != '=' && value[i] != ';') ++i;
    std::string key = Lower(Trim(value.substr(key_start, i - key_start)));
    std::string val;
    if (i < value.size() && value[i] == '=') {
      ++i;
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i < value.size() && value[i] == '"') {
        for (++i; i < value.size() && value[i] != '"'; ++i) {
          if (value[i] == '\\' && i + 1 < value.size()) ++i;
          val += value[i];
        }
        if (i < value.size()) ++i;  // closing quote
        segment_end();              // anything after the quoted string is ignored
      } else {
        size_t val_start = i;
        segment_end();
        val = std::string(Trim(value.substr(val_start, i - val_start)));
      }
    }
    if (!key.empty()) params->emplace(key, val);
  }
}

Status MultipartBoundary(std::string_view content_type, std::string* boundary) {
  std::string kind;
  std::map<std::string, std::string> params;
  ParseHeaderParams(content_type, &kind, &params);
  if (kind != "multipart/form-data")
    return Status::InvalidArgument("body must be multipart/form-data (got Content-Type \"" +
                                   std::string(content_type.substr(0, 100)) + "\")");
  auto it = params.find("boundary");
  if (it == params.end() || it->second.empty() || it->second.size() > 70)
    return Status::InvalidArgument("multipart/form-data needs a boundary of 1 to 70 characters");
  *boundary = it->second;
  return Status::OK();
}

MultipartReader::MultipartReader(std::string boundary, PartHandler on_part, DataHandler on_data,
                                 size_t max_header_bytes)
    : delimiter_("\r\n--" + boundary),
      on_part_(std::move(on_part)),
      on_data_(std::move(on_data)),
      max_header_bytes_(max_header_bytes),
      // The first delimiter may open the body without a CRLF before it: pretend there was one.
      pending_("\r\n") {}

Status MultipartReader::Fail(Status s) {
  state_ = State::kFailed;
  failure_ = s;
  pending_.clear();
  return s;
}

Status MultipartReader::Feed(std::string_view piece) {
  if (state_ == State::kFailed) return failure_;
  if (state_ == State::kDone) return Status::OK();  // the epilogue is ignored
  pending_.append(piece);
  const size_t keep = delimiter_.size() - 1;  // a tail that may be the start of a delimiter
  for (;;) {
    switch (state_) {
      case State::kPreamble: {
        size_t at = pending_.find(delimiter_);
        if (at == std::string::npos) {
          if (pending_.size() > keep) pending_.erase(0, pending_.size() - keep);
          return Status::OK();
        }
        pending_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kAfterDelimiter: {
        if (pending_.size() < 2) return Status::OK();
        if (pending_.starts_with("--")) {
          state_ = State::kDone;
          pending_.clear();
          return Status::OK();
        }
        size_t pad = pending_.find_first_not_of(" \t");
        if (pad == std::string::npos) {
          pending_.clear();
          return Status::OK();
        }
        pending_.erase(0, pad);
        if (pending_.size() < 2) return Status::OK();
        if (!pending_.starts_with("\r\n"))
          return Fail(Status::InvalidArgument("malformed multipart body: no line break after a boundary"));
        pending_.erase(0, 2);
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        size_t end = pending_.starts_with("\r\n") ? 0 : pending_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (pending_.size() > max_header_bytes_)
            return Fail(Status::InvalidArgument("multipart part headers are larger than " +
                                                std::to_string(max_header_bytes_) + " bytes"));
          return Status::OK();
        }
        if (end > max_header_bytes_)
          return Fail(Status::InvalidArgument("multipart part headers are larger than " +
                                              std::to_string(max_header_bytes_) + " bytes"));
        Status s = ParseHeaders(std::string_view(pending_).substr(0, end));
        if (!s.ok()) return Fail(s);
        pending_.erase(0, end == 0 ? 2 : end + 4);
        state_ = State::kData;
        break;
      }
      case State::kData: {
        size_t at = pending_.find(delimiter_);
        size_t emit = at != std::string::npos ? at : (pending_.size() > keep ? pending_.size() - keep : 0);
        if (emit > 0 && !on_data_(std::string_view(pending_).substr(0, emit)))
          return Fail(Status::Cancelled("multipart reading stopped"));
        if (at == std::string::npos) {
          pending_.erase(0, emit);
          return Status::OK();
        }
        pending_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kDone:
        pending_.clear();
        return Status::OK();
      case State::kFailed:
        return failure_;
    }
  }
}

Status MultipartReader::Finish() {
  if (state_ == State::kFailed) return failure_;
  if (state_ != State::kDone)
    return Fail(Status::InvalidArgument("the multipart body ended before its closing boundary (cut off?)"));
  return Status::OK();
}

Status MultipartReader::ParseHeaders(std::string_view block) {
  MultipartPart part;
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return Status::InvalidArgument("malformed multipart part header (no colon)");
    std::string name = Lower(Trim(line.substr(0, colon)));
    std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      std::string kind;
      std::map<std::string, std::string> params;
      ParseHeaderParams(value, &kind, &params);
      if (kind != "form-data") return Status::InvalidArgument("multipart part is not form-data");
      part.name = params.count("name") ? params["name"] : "";
      part.filename = params.count("filename") ? params["filename"] : "";
    } else if (name == "content-type") {
      part.content_type = std::string(value);
    }
  }
  if (!on_part_(part)) return Status::Cancelled("multipart reading stopped");
  return Status::OK();
}

}  // namespace bim
