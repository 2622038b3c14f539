// bim.toml: the per-app settings a user keeps in the app folder.
//
//   app = "hello"          # DNS label: [a-z0-9-], 1-63 chars, no leading/trailing '-'
//   port = 8080            # the port the container listens on (1-65535)
//   [health]
//   path = "/healthz"      # default "/"; 2xx/3xx counts as healthy
//   timeout = "30s"        # how long a new release may take to become healthy ("500ms", "30s", "2m")
//
// Unknown keys are an error (a typo like `prot = 80` must not silently deploy on the default port).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/status.h"

namespace bim {

struct HealthCheck {
  std::string path = "/";
  std::chrono::milliseconds timeout{30000};
};

struct AppConfig {
  std::string app;  // empty when bim.toml does not name it (the CLI falls back to the folder name)
  int port = 8080;
  HealthCheck health;
};

// Parses bim.toml text into `out`; keys absent from the text keep their defaults. On failure returns
// InvalidArgument like "bim.toml: port must be an integer 1-65535 (got \"80a\")" and leaves `out`
// unchanged. Validates the app name, port, health path and timeout (timeout 1s..1h).
Status ParseAppConfig(std::string_view toml_text, AppConfig* out);

// Parses "250ms", "30s", "2m", "1h" (a positive integer and a unit). Returns InvalidArgument otherwise.
Status ParseDuration(std::string_view text, std::chrono::milliseconds* out);

// Formats milliseconds the way ParseDuration reads them back ("30s", "1500ms", "2m").
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace bim
