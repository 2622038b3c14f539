// libFuzzer target: the .env parser must never crash, hang or accept an invalid key on any input.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/dotenv.h"
#include "core/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bim::EnvList env;
  bim::Status s = bim::ParseDotenv(text, &env);
  if (s.ok()) {
    // Whatever it accepts must satisfy the key rule bimd enforces again on upload.
    for (const auto& [key, value] : env)
      if (!bim::ValidateEnvKey(key).ok()) std::abort();
    bim::EnvDigest(env, "fuzz-key");
  } else if (s.message().empty() || s.message().find('\n') != std::string::npos) {
    std::abort();  // errors are one non-empty line
  }
  return 0;
}
