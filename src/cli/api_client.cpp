#include "cli/api_client.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace bim {

using nlohmann::json;

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Collects a response body, or splits it into NDJSON lines when a handler is set, or hands a
// successful body to `raw` as it comes (downloads).
struct Body {
  static constexpr curl_off_t kMaxReserve = 64 << 20;
  std::string data;
  const EventHandler* on_event = nullptr;
  const ByteHandler* raw = nullptr;
  long status = 0;
  CURL* curl = nullptr;
  size_t Feed(const char* p, size_t n) {
    if (status == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (raw && status < 400) return (*raw)(std::string_view(p, n)) ? n : 0;
    if (data.empty() && !on_event) {
      // One allocation for a large answer (the app list is ~2 MB at 10,000 apps), bounded.
      curl_off_t length = -1;
      curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      if (length > 0 && length <= kMaxReserve) data.reserve(static_cast<size_t>(length));
    }
    data.append(p, n);
    if (!on_event) return n;
    if (status >= 400) return n;  // an error body is JSON, parsed at the end
    size_t nl;
    while ((nl = data.find('\n')) != std::string::npos) {
      std::string line = data.substr(0, nl);
      data.erase(0, nl + 1);
      if (line.empty()) continue;
      json event = json::parse(line, nullptr, false);
      if (event.is_discarded() || event.value("event", "") == "heartbeat") continue;
      (*on_event)(event);
    }
    return n;
  }
};

size_t WriteBody(char* p, size_t size, size_t n, void* user) { return static_cast<Body*>(user)->Feed(p, size * n); }

struct Progress {
  const UploadProgress* on_upload = nullptr;
};

std::atomic<bool> g_interrupted{false};

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t ultotal, curl_off_t ulnow) {
  if (g_interrupted) return 1;  // aborts the transfer: bimd sees the client go and cancels
  auto* p = static_cast<Progress*>(user);
  if (p->on_upload && *p->on_upload && ultotal > 0) (*p->on_upload)(ulnow, ultotal);
  return 0;
}

Status ErrorFromResponse(long status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.contains("error") && j["error"].is_object()) {
    return Status(Status::CodeFromName(j["error"].value("code", "internal")), j["error"].value("message", body));
  }
  return Status::Internal("bimd answered HTTP " + std::to_string(status));
}

Status Perform(const ServerConfig& config, CURL* curl, Body* body, const char* content_type = nullptr,
               Progress* progress = nullptr) {
  std::string auth = "Authorization: Bearer " + config.token;
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  if (content_type) headers = curl_slist_append(headers, (std::string("Content-Type: ") + content_type).c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before uploads
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "bim/0.1");
  // An https:// bimd with a private CA or a self-signed certificate: BIM_CA_CERT names the PEM file
  // to trust (verification stays on; there is no switch to turn it off).
  if (const char* ca = std::getenv("BIM_CA_CERT"); ca != nullptr && *ca != '\0') curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
  body->curl = curl;
  // Every request watches for Ctrl-C (see InterruptTransfersOnCtrlC); uploads also report progress.
  static Progress no_upload;
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, progress ? progress : &no_upload);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &body->status);
  curl_slist_free_all(headers);
  if (rc == CURLE_ABORTED_BY_CALLBACK && g_interrupted)
    return Status::Cancelled("interrupted: bimd cancels the release unless it had already switched traffic "
                             "(check with `bim status`)");
  if (rc != CURLE_OK) {
    if (body->status == 0)
      return Status::Unavailable("cannot reach bimd at " + config.url + ": " + curl_easy_strerror(rc) +
                                 " (is bimd running? check BIM_SERVER or run `bim login`)");
    return Status::Unavailable("connection to bimd broke off: " + std::string(curl_easy_strerror(rc)));
  }
  if (body->status >= 400) return ErrorFromResponse(body->status, body->data);
  return Status::OK();
}

Status JsonCall(const ServerConfig& config, const char* method, const std::string& path, json* out,
                const std::string* request_body = nullptr, const char* content_type = "application/json",
                std::string* text = nullptr, bool validate_text = true) {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config.url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method);
  if (request_body != nullptr) {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, request_body->data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body->size()));
  }
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 120L);
  Body body;
  Status s = Perform(config, curl.get(), &body, request_body != nullptr ? content_type : nullptr);
  if (!s.ok()) return s;
  if (text) {
    if (validate_text && !json::accept(body.data)) return Status::Internal("bimd sent a response that is not JSON");
    *text = std::move(body.data);
    return Status::OK();
  }
  *out = json::parse(body.data, nullptr, false);
  if (out->is_discarded()) return Status::Internal("bimd sent a response that is not JSON");
  return Status::OK();
}

}  // namespace

void InterruptTransfersOnCtrlC() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {
    g_interrupted = true;
    signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
  };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

Status ApiClient::Get(const std::string& path, json* out) const { return JsonCall(config_, "GET", path, out); }
Status ApiClient::GetText(const std::string& path, std::string* out, bool validate) const {
  return JsonCall(config_, "GET", path, nullptr, nullptr, "application/json", out, validate);
}
Status ApiClient::Delete(const std::string& path, json* out) const { return JsonCall(config_, "DELETE", path, out); }
Status ApiClient::Post(const std::string& path, const json& body, json* out) const {
  std::string text = body.dump();
  return JsonCall(config_, "POST", path, out, &text);
}

Status ApiClient::PostText(const std::string& path, const std::string& text, json* out) const {
  return JsonCall(config_, "POST", path, out, &text, "text/plain");
}

Status ApiClient::Stream(const std::string& path, const EventHandler& on_event) const {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config_.url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  Body body;
  body.on_event = &on_event;
  return Perform(config_, curl.get(), &body);
}

Status ApiClient::PostStream(const std::string& path, const json& request, const EventHandler& on_event) const {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config_.url + path;
  std::string text = request.dump();
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, text.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(text.size()));
  Body body;
  body.on_event = &on_event;
  Status s = Perform(config_, curl.get(), &body, "application/json");
  if (!s.ok()) return s;
  // A last object without a trailing newline (or a plain JSON answer) is still an event.
  if (!body.data.empty()) {
    json event = json::parse(body.data, nullptr, false);
    if (!event.is_discarded() && event.value("event", "") != "heartbeat") on_event(event);
  }
  return Status::OK();
}

Status ApiClient::Download(const std::string& path, const ByteHandler& sink) const {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config_.url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  Body body;
  body.raw = &sink;
  return Perform(config_, curl.get(), &body);
}

Status ApiClient::PutFileStream(const std::string& path, const std::string& file_path, const EventHandler& on_event,
                                const UploadProgress& on_upload) const {
  GlobalInit();
  std::unique_ptr<FILE, decltype(&fclose)> file(fopen(file_path.c_str(), "rb"), fclose);
  if (!file) return Status::Internal("cannot read " + file_path);
  fseeko(file.get(), 0, SEEK_END);
  curl_off_t size = ftello(file.get());
  fseeko(file.get(), 0, SEEK_SET);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config_.url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);  // PUT
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, file.get());
  curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, size);
  Progress progress{&on_upload};
  Body body;
  body.on_event = &on_event;
  Status s = Perform(config_, curl.get(), &body, nullptr, &progress);
  if (s.ok() && !body.data.empty()) {  // a last object without its newline
    json event = json::parse(body.data, nullptr, false);
    if (!event.is_discarded() && event.value("event", "") != "heartbeat") on_event(event);
  }
  return s;
}

Status ApiClient::Deploy(const std::string& app, const json& meta, const std::string& part_name,
                         const std::string& file_path, const EventHandler& on_event,
                         const UploadProgress& on_upload) const {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config_.url + "/v1/apps/" + app + "/deploy";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  std::unique_ptr<curl_mime, decltype(&curl_mime_free)> mime(curl_mime_init(curl.get()), curl_mime_free);
  std::string meta_text = meta.dump();
  curl_mimepart* part = curl_mime_addpart(mime.get());
  curl_mime_name(part, "meta");
  curl_mime_data(part, meta_text.data(), meta_text.size());
  curl_mime_type(part, "application/json");
  if (!file_path.empty()) {
    part = curl_mime_addpart(mime.get());
    curl_mime_name(part, part_name.c_str());
    if (curl_mime_filedata(part, file_path.c_str()) != CURLE_OK)
      return Status::Internal("cannot read the packed upload " + file_path);
    curl_mime_filename(part, (part_name + ".tar.gz").c_str());
    curl_mime_type(part, "application/x-tar");
  }
  curl_easy_setopt(curl.get(), CURLOPT_MIMEPOST, mime.get());
  Progress progress{&on_upload};
  Body body;
  body.on_event = &on_event;
  return Perform(config_, curl.get(), &body, nullptr, &progress);
}

}  // namespace bim
