// Placeholder until the Security commands land.
#include "cli/command_registry.h"

namespace bim {
void AddSecurityCommands(CLI::App&, CliContext&) {}
}  // namespace bim
