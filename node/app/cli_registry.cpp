#include "cli_registry.hpp"

namespace dm2::cli {

std::vector<registered_command>& registered_commands() {
  static std::vector<registered_command> commands;  // built before main() by the registrars
  return commands;
}

}  // namespace dm2::cli
