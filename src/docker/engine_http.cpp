#include "docker/engine_http.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace bim::engine {
namespace {

// The Engine API version bim speaks: what Debian 12's docker.io (20.10) serves.
constexpr const char* kBaseUrl = "http://localhost/v1.41";

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State shared with the libcurl callbacks of one transfer.
struct Transfer {
  CURL* curl = nullptr;
  const Request* request = nullptr;
  Response* response = nullptr;
  FILE* body = nullptr;
  bool read_failed = false;
};

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->request->on_data) {
    // The status line has arrived before any body byte, so the code is known here. Error bodies are
    // kept for ErrorStatus rather than fed to the stream parser.
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) {
      t->request->on_data(std::string_view(data, n));
      return n;
    }
  }
  t->response->body.append(data, n);
  return n;
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::fread(buffer, 1, size * count, t->body);
  if (n == 0 && std::ferror(t->body)) {
    t->read_failed = true;
    return CURL_READFUNC_ABORT;
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->request->cancelled && t->request->cancelled() ? 1 : 0;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

std::string Escape(std::string_view s, const char* keep) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (c && std::strchr(keep, c))) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string QueryEscape(std::string_view s) { return Escape(s, ""); }
std::string PathEscape(std::string_view s) { return Escape(s, "/:@"); }

Status Perform(const std::string& socket_path, const Request& request, Response* response) {
  GlobalInit();
  response->status = 0;
  response->body.clear();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed (out of memory?)");
  CURL* c = curl.get();
  Transfer t{c, &request, response, nullptr};

  std::unique_ptr<FILE, FileCloser> body_file;
  curl_off_t body_size = 0;
  if (!request.body_file.empty()) {
    body_file.reset(std::fopen(request.body_file.c_str(), "rb"));
    struct stat st {};
    if (!body_file || ::fstat(fileno(body_file.get()), &st) != 0) {
      return Status::Internal(fmt::format("cannot read {}: {}", request.body_file, std::strerror(errno)));
    }
    body_size = st.st_size;
    t.body = body_file.get();
  }

  std::string url = std::string(kBaseUrl) + request.target;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // an http_proxy in the environment must not apply here
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // required for multi-threaded use
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, request.timeout_seconds);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  if (request.cancelled) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  }

  // "Expect:" stops curl from waiting for a 100-continue before large uploads.
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  std::string method = request.method;
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (method == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    if (t.body) {
      headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
      curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(c, CURLOPT_READDATA, &t);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, body_size);
    } else {
      if (!request.json_body.empty()) headers = curl_slist_append(headers, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.json_body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.json_body.size()));
    }
  } else if (method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method);
  }
  std::unique_ptr<curl_slist, SlistDeleter> header_list(headers);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(c);
  if (t.read_failed) {
    return Status::Internal(fmt::format("cannot read {} while sending it to dockerd", request.body_file));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) return Status::Cancelled("cancelled");
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return Status::DeadlineExceeded(fmt::format("dockerd at {} did not answer {} {} within {} s", socket_path,
                                                method, request.target.substr(0, request.target.find('?')),
                                                request.timeout_seconds));
  }
  if (rc != CURLE_OK) {
    std::string reason = curl_easy_strerror(rc);
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) {
      reason += fmt::format(" ({})", std::strerror(static_cast<int>(os_errno)));
    } else if (error_buffer[0] != '\0') {
      reason = error_buffer;
    }
    return Status::Unavailable(fmt::format(
        "cannot reach dockerd at {}: {} (start it: scripts/setup.sh, or `dockerd &`)", socket_path, reason));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response->status);
  return Status::OK();
}

Status ErrorStatus(const Response& response, const std::string& what) {
  // Docker answers errors as {"message": "..."}; fall back to the raw body if it is anything else.
  std::string message;
  nlohmann::json j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    message = j["message"].get<std::string>();
  } else {
    message = response.body.substr(0, 300);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  if (message.empty()) message = fmt::format("HTTP {}", response.status);
  std::string text = fmt::format("{}: {}", what, message);
  switch (response.status) {
    case 404:
      return Status::NotFound(text);
    case 409:
      return Status::Conflict(text);
    default:
      return Status::Internal(fmt::format("{} (HTTP {})", text, response.status));
  }
}

}  // namespace bim::engine
