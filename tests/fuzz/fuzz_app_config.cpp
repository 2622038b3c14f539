// libFuzzer target: bim.toml parsing must never crash on any input, and what it accepts must pass
// the same validation bimd applies (app name, port, health path).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/app_config.h"
#include "core/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bim::AppConfig config;
  bim::Status s = bim::ParseAppConfig(text, &config);
  if (s.ok()) {
    if (!config.app.empty() && !bim::ValidateAppName(config.app).ok()) std::abort();
    if (!bim::ValidatePort(config.port).ok()) std::abort();
    if (!bim::ValidateHealthPath(config.health.path).ok()) std::abort();
  } else if (s.message().find('\n') != std::string::npos) {
    std::abort();
  }
  // The duration parser on its own, on the same bytes.
  std::chrono::milliseconds ms{0};
  bim::ParseDuration(text, &ms);
  return 0;
}
