// dm2: the command-line tool of a dm2 site. Subcommands come from node/app/cli_*.cpp files
// through cli_registry.hpp; exit codes are listed there.
#include <cstdlib>
#include <iostream>

#include "cli_registry.hpp"
#include "dm2/node/logging.hpp"
#include "dm2/node/version.hpp"

int main(int argc, char** argv) {
  // DCMTK turns Nagle's algorithm off only when this is set; without it every DIMSE exchange
  // waits on delayed ACKs (docs/pacs.md). Set before any thread starts: setenv is not thread-safe.
  ::setenv("TCP_NODELAY", "1", 0);
  CLI::App app{"dm2 — manage a dm2 site: its identity, the consortium CA and roster, its PACS,\n"
               "and its running node (dm2d)."};
  app.set_version_flag("--version", std::string("dm2 ") + dm2::node::version);
  app.require_subcommand(1);
  // Results go to stdout; the library's log lines (warnings and worse) to stderr.
  (void)dm2::node::setup_logging("warn");
  for (const auto& command : dm2::cli::registered_commands()) command.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dm2: " << e.what() << "\nRun 'dm2 --help' for usage.\n";
    return dm2::cli::exit_usage;
  } catch (const dm2::cli::command_failed& e) {
    std::cerr << "dm2: " << e.what() << '\n';
    return e.exit;
  }
  return dm2::cli::exit_ok;
}
