// dm2-sim scenarios as TOML files (simulations/scenarios/*.toml, docs/simulator.md): every key
// is optional and names one dm2-sim option; an option given on the command line wins over the
// file. Unknown tables or keys and values of the wrong type are refused with a message naming
// them, so a typo never silently runs the defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace dm2::sim {

// One settable option: "table.key" and how to set it from a TOML integer or float (in
// [min, max]), or from a string when `set_text` is given.
struct scenario_option {
  std::string path;  // e.g. "churn.failure_rate_per_hour"
  bool integer = false;
  std::function<void(double)> set;
  std::function<bool()> given_on_command_line;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::function<void(const std::string&)> set_text;
};

// Reads `file` and applies every key it sets (unless given on the command line). Returns an
// empty string, or the error to print (unreadable file, syntax error, unknown key, wrong type, out of range).
std::string load_scenario(const std::string& file, const std::vector<scenario_option>& options);

}  // namespace dm2::sim
