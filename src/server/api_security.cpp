// Placeholder until the Security routes land.
#include "server/api_context.h"

namespace bim {
void RegisterSecurityRoutes(ApiContext&) {}
}  // namespace bim
