// Placeholder until the Init commands land.
#include "cli/command_registry.h"

namespace bim {
void AddInitCommands(CLI::App&, CliContext&) {}
}  // namespace bim
