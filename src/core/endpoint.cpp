#include "core/endpoint.h"

#include "core/ipv4_net.h"

#include <charconv>

namespace bim {

namespace {

bool ParseNumber(std::string_view text, int max, int* out) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return false;
  *out = value;
  return true;
}

bool IsIPv4(std::string_view host) {
  uint32_t address = 0;
  return ParseIpv4Address(host, &address);
}

}  // namespace

Status ValidateEndpoint(const Endpoint& endpoint) {
  if (!IsIPv4(endpoint.host))
    return Status::InvalidArgument("endpoint host \"" + endpoint.host + "\" is not an IPv4 address like 127.0.0.1");
  if (endpoint.port < 1 || endpoint.port > 65535)
    return Status::InvalidArgument("endpoint port " + std::to_string(endpoint.port) + " is not in 1-65535");
  return Status::OK();
}

Status ParseEndpoint(std::string_view text, Endpoint* out) {
  Endpoint e;
  if (!text.empty() && text.front() == '~') {
    e.standby = true;
    text.remove_prefix(1);
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || !ParseNumber(text.substr(colon + 1), 65535, &e.port))
    return Status::InvalidArgument("\"" + std::string(text) + "\" is not an endpoint (write it like 127.0.0.1:8080)");
  e.host = std::string(text.substr(0, colon));
  if (Status s = ValidateEndpoint(e); !s.ok()) return s;
  *out = std::move(e);
  return Status::OK();
}

std::string JoinEndpoints(const std::vector<Endpoint>& endpoints) {
  std::string out;
  for (const auto& e : endpoints) {
    if (!out.empty()) out += ' ';
    if (e.standby) out += '~';
    out += e.ToString();
  }
  return out;
}

}  // namespace bim
