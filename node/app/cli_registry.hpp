// How the `dm2` CLI gathers its subcommands: each cli_<topic>.cpp file in node/app/ registers a
// function that adds its subcommands, with a file-scope `dm2::cli::registrar`. dm2_main.cpp only
// calls them, so adding a command never touches another module's file.
//
// Conventions for every command:
// - failures throw dm2::cli::command_failed (message printed as "dm2: <message>", exit code kept);
// - exit codes: 0 ok, 2 bad usage (CLI11 parse errors keep their own), 3 bad input file or
//   config, 4 local state unusable (data dir, keys), 5 a remote party failed (node, PACS, peer),
//   6 a limitation of dm2 itself (valid input it cannot handle yet, e.g. colour images);
// - long jobs draw a dm2::cli::progress_bar on stderr; results go to stdout (JSON with --json).
#pragma once

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace dm2::cli {

enum exit_code : int {
  exit_ok = 0,
  exit_usage = 2,
  exit_bad_input = 3,
  exit_local_state = 4,
  exit_remote = 5,
  exit_unsupported = 6,
};

struct command_failed : std::runtime_error {
  command_failed(int code, const std::string& message) : std::runtime_error(message), exit(code) {}
  int exit;
};

using command_adder = void (*)(CLI::App& dm2);

struct registered_command {
  const char* topic;
  command_adder add;
};

// Every registered adder, in registration order.
std::vector<registered_command>& registered_commands();

struct registrar {
  registrar(const char* topic, command_adder add) { registered_commands().push_back({topic, add}); }
};

}  // namespace dm2::cli
