// `bim mcp`: serve the Model Context Protocol on stdin/stdout so AI agents can deploy and manage apps
// (`claude mcp add bim -- bim mcp`). See mcp_server.h for the protocol, mcp_tools.h for the tools.
#include <iostream>

#include "cli/command_registry.h"
#include "cli/mcp_server.h"
#include "cli/mcp_tools.h"

namespace bim {

void AddMcpCommand(CLI::App& cli, CliContext& ctx) {
  auto* mcp = cli.add_subcommand("mcp", "Serve the Model Context Protocol over stdio for AI agents "
                                        "(claude mcp add bim -- bim mcp)");
  // --json is accepted for uniformity; the protocol is JSON either way.
  ctx.AddJsonFlag(mcp);
  mcp->callback([&ctx] {
    // stdout carries protocol messages only; nothing else in bim writes there during a tool call
    // (DeployFolder reports through its ProgressSink, which the tools route to stderr).
    McpServer server(std::cin, std::cout, BimMcpTools(), "0.1.0");
    ctx.exit_code = server.Run();
  });
}

}  // namespace bim
