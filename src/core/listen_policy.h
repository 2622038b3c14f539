// Where bimd may listen. The API carries bearer tokens, so on anything but loopback it must be TLS,
// unless the operator says --insecure (e.g. behind their own TLS-terminating proxy on a private link).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace bim {

// True for 127.0.0.0/8, "localhost", "::1" and "[::1]". False for everything else, including the
// wildcards "0.0.0.0", "::" and "" (they listen on every interface).
bool IsLoopbackHost(std::string_view host);

// OK if `listen` ("HOST:PORT") may be served: a loopback host, or TLS (both cert and key), or
// `insecure`. InvalidArgument naming the flags otherwise, and when only one of cert/key is given.
Status CheckListenPolicy(const std::string& listen, const std::string& tls_cert, const std::string& tls_key,
                         bool insecure);

}  // namespace bim
