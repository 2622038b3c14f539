// Placeholder until the History routes land.
#include "server/api_context.h"

namespace bim {
void RegisterHistoryRoutes(ApiContext&) {}
}  // namespace bim
