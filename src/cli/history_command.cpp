// Placeholder until bim history lands.
#include "cli/command_registry.h"

namespace bim {
void AddHistoryCommand(CLI::App&, CliContext&) {}
}  // namespace bim
