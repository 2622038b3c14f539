#include "support/load_generator.h"

#include <curl/curl.h>

#include <chrono>

namespace bim::testing {

namespace {
size_t Collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}
}  // namespace

std::string LoadReport::Summary() const {
  std::string s = std::to_string(requests) + " requests, " + std::to_string(ok_2xx) + " 2xx, " +
                  std::to_string(non_2xx) + " non-2xx, " + std::to_string(errors) + " connection errors; statuses:";
  for (const auto& [code, n] : by_status) s += " " + std::to_string(code) + "x" + std::to_string(n);
  s += "; bodies:";
  for (const auto& [body, n] : by_body) s += " [" + body.substr(0, 40) + "]x" + std::to_string(n);
  for (const auto& p : first_problems) s += "\n  " + p;
  return s;
}

LoadGenerator::LoadGenerator(int port, std::string host, std::string path, int threads, int rate_per_second)
    : port_(port), host_(std::move(host)), path_(std::move(path)), threads_(threads), rate_(rate_per_second) {}

LoadGenerator::~LoadGenerator() {
  if (!workers_.empty()) Stop();
}

void LoadGenerator::Start() {
  stop_ = false;
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this, i] { Run(i); });
}

LoadReport LoadGenerator::Stop() {
  stop_ = true;
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  return report_;
}

std::string LoadGenerator::LastBody() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_body_;
}

void LoadGenerator::Run(int) {
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port_) + path_;
  std::string host_header = "Host: " + host_;
  curl_slist* headers = curl_slist_append(nullptr, host_header.c_str());
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  auto interval = std::chrono::microseconds(1000000LL * threads_ / (rate_ > 0 ? rate_ : 1));
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    body.clear();
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    {
      std::lock_guard<std::mutex> lock(mu_);
      report_.requests++;
      if (rc != CURLE_OK) {
        report_.errors++;
        if (report_.first_problems.size() < 10) report_.first_problems.push_back(curl_easy_strerror(rc));
      } else {
        report_.by_status[status]++;
        if (status >= 200 && status < 300) {
          report_.ok_2xx++;
          report_.by_body[body]++;
          last_body_ = body;
        } else {
          report_.non_2xx++;
          if (report_.first_problems.size() < 10)
            report_.first_problems.push_back("HTTP " + std::to_string(status) + ": " + body.substr(0, 80));
        }
      }
    }
    next += interval;
    std::this_thread::sleep_until(next);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}

}  // namespace bim::testing
