#include "cli/api_client.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace bim {

using nlohmann::json;

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Collects a response body, or splits it into NDJSON lines when a handler is set.
struct Body {
  std::string data;
  const EventHandler* on_event = nullptr;
  long status = 0;
  CURL* curl = nullptr;
  size_t Feed(const char* p, size_t n) {
    data.append(p, n);
    if (!on_event) return n;
    if (status == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
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

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t ultotal, curl_off_t ulnow) {
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

Status Perform(const ServerConfig& config, CURL* curl, Body* body) {
  std::string auth = "Authorization: Bearer " + config.token;
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before uploads
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "bim/0.1");
  body->curl = curl;
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &body->status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    if (body->status == 0)
      return Status::Unavailable("cannot reach bimd at " + config.url + ": " + curl_easy_strerror(rc) +
                                 " (is bimd running? check BIM_SERVER or run `bim login`)");
    return Status::Unavailable("connection to bimd broke off: " + std::string(curl_easy_strerror(rc)));
  }
  if (body->status >= 400) return ErrorFromResponse(body->status, body->data);
  return Status::OK();
}

Status JsonCall(const ServerConfig& config, const char* method, const std::string& path, json* out) {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config.url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 120L);
  Body body;
  Status s = Perform(config, curl.get(), &body);
  if (!s.ok()) return s;
  *out = json::parse(body.data, nullptr, false);
  if (out->is_discarded()) return Status::Internal("bimd sent a response that is not JSON");
  return Status::OK();
}

}  // namespace

Status ApiClient::Get(const std::string& path, json* out) const { return JsonCall(config_, "GET", path, out); }
Status ApiClient::Delete(const std::string& path, json* out) const { return JsonCall(config_, "DELETE", path, out); }

Status ApiClient::Stream(const std::string& path, const EventHandler& on_event) const {
  GlobalInit();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = config_.url + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  Body body;
  body.on_event = &on_event;
  return Perform(config_, curl.get(), &body);
}

Status ApiClient::Deploy(const std::string& app, const json& meta, const std::string& tar_path,
                         const EventHandler& on_event, const UploadProgress& on_upload) const {
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
  part = curl_mime_addpart(mime.get());
  curl_mime_name(part, "context");
  if (curl_mime_filedata(part, tar_path.c_str()) != CURLE_OK)
    return Status::Internal("cannot read the packed build context " + tar_path);
  curl_mime_filename(part, "context.tar.gz");
  curl_mime_type(part, "application/x-tar");
  curl_easy_setopt(curl.get(), CURLOPT_MIMEPOST, mime.get());
  Progress progress{&on_upload};
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &progress);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  Body body;
  body.on_event = &on_event;
  return Perform(config_, curl.get(), &body);
}

}  // namespace bim
