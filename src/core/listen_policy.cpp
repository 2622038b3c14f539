#include "core/listen_policy.h"

#include <arpa/inet.h>

namespace bim {

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // Parse strictly as a dotted quad, so "127.0.0.1.evil.com" or "127.1" do not pass as loopback.
  std::string h(host);
  in_addr addr{};
  if (inet_pton(AF_INET, h.c_str(), &addr) != 1) return false;
  return (ntohl(addr.s_addr) >> 24) == 127;
}

Status CheckListenPolicy(const std::string& listen, const std::string& tls_cert, const std::string& tls_key,
                         bool insecure) {
  if (tls_cert.empty() != tls_key.empty())
    return Status::InvalidArgument("--tls-cert and --tls-key go together; pass both (or neither)");
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument("--listen must be HOST:PORT (got \"" + listen + "\")");
  std::string host = listen.substr(0, colon);
  if (IsLoopbackHost(host) || !tls_cert.empty() || insecure) return Status::OK();
  return Status::InvalidArgument("refusing to serve the API on non-loopback address " + listen +
                                 " without TLS: pass --tls-cert FILE --tls-key FILE (or --insecure to allow "
                                 "plain HTTP)");
}

}  // namespace bim
