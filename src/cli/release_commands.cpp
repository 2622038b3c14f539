// Placeholder until the Release commands land.
#include "cli/command_registry.h"

namespace bim {
void AddReleaseCommands(CLI::App&, CliContext&) {}
}  // namespace bim
