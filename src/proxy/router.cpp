#include "proxy/router.h"

namespace bim {

Status ValidateRouteKey(std::string_view key) {
  auto bad = [&] {
    return Status::InvalidArgument("route key \"" + std::string(key.substr(0, 140)) +
                                   "\" must be 1-128 characters of a-z, 0-9, '.' and '-', starting with a letter or digit");
  };
  if (key.empty() || key.size() > 128 || key[0] == '.' || key[0] == '-') return bad();
  for (char c : key)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return bad();
  return Status::OK();
}

}  // namespace bim
