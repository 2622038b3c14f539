// HttpRequest/HttpResponse accessors and URL decoding: the parts of the HTTP layer that need no Boost.
#include <strings.h>

#include <chrono>
#include <charconv>

#include "http/http_internal.h"

namespace bim {

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

void ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* params) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    // A malformed escape keeps the text as sent: a parameter is data, never a path.
    if (!PercentDecode(pair.substr(0, eq), true, &key)) key = std::string(pair.substr(0, eq));
    if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value))
      value = std::string(pair.substr(eq + 1));
    params->emplace_back(std::move(key), std::move(value));
  }
}

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (SameName(k, name)) return v;
  return "";
}

bool HttpRequest::HasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (SameName(k, name)) return true;
  return false;
}

std::string HttpRequest::Param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return "";
}

bool HttpRequest::HasParam(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return true;
  return false;
}

int64_t HttpRequest::ContentLength() const {
  if (!HasHeader("Content-Length")) return -1;
  std::string text = Header("Content-Length");
  int64_t n = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : -1;
}

Status HttpRequest::ReadBody(const std::function<bool(std::string_view)>& on_data) const {
  if (exchange == nullptr)
    return Status::Internal("this route's body was read before its handler ran (set streamed_body)");
  return exchange->ReadBody(on_data);
}

bool HttpResponse::BeginStream(const std::string& type) {
  if (exchange == nullptr || streaming_) return false;
  content_type = type;
  streaming_ = true;
  return exchange->BeginStream(*this);
}

bool HttpResponse::Write(std::string_view data) {
  if (exchange == nullptr || !streaming_ || aborted_) return false;
  return exchange->Write(data);
}

}  // namespace bim
