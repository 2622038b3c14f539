// Placeholder until the Release routes land.
#include "server/api_context.h"

namespace bim {
void RegisterReleaseRoutes(ApiContext&) {}
}  // namespace bim
