// Placeholder until bim mcp lands.
#include "cli/command_registry.h"

namespace bim {
void AddMcpCommand(CLI::App&, CliContext&) {}
}  // namespace bim
