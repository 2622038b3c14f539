// The tools `bim mcp` offers an AI agent: deploy, status, releases, logs, rollback, env_list, env_set
// and apps. Each talks to bimd through ApiClient with the CLI's credentials (BIM_SERVER/BIM_TOKEN, else
// `bim login`), loaded per call, and returns a text summary plus structured JSON matching its
// outputSchema. Secret values never leave these tools: env_list masks every value whatever bimd sends,
// and env_set reports key names only.
#pragma once

#include <vector>

#include "cli/mcp_server.h"

namespace bim {

std::vector<McpTool> BimMcpTools();

}  // namespace bim
