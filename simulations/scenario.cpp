#include "scenario.hpp"

#include <toml++/toml.h>

#include <map>
#include <sstream>

namespace dm2::sim {

std::string load_scenario(const std::string& file, const std::vector<scenario_option>& options) {
  toml::table root;
  try {
    root = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return file + ": " + std::string(e.description());
  }
  std::map<std::string, const scenario_option*> by_path;
  for (const auto& o : options) by_path[o.path] = &o;
  std::string error;
  for (const auto& [table_name, table_node] : root) {
    const auto* table = table_node.as_table();
    if (!table)
      return file + ": top-level key '" + std::string(table_name.str()) + "' is not a table";
    for (const auto& [key, value] : *table) {
      auto path = std::string(table_name.str()) + "." + std::string(key.str());
      auto it = by_path.find(path);
      if (it == by_path.end()) return file + ": unknown key '" + path + "'";
      const auto& o = *it->second;
      if (o.set_text) {
        auto text = value.value_exact<std::string>();
        if (!text) return file + ": '" + path + "' must be a string";
        if (!o.given_on_command_line()) o.set_text(*text);
        continue;
      }
      double v = 0;
      if (auto i = value.value_exact<std::int64_t>()) {
        v = static_cast<double>(*i);
      } else if (auto f = value.value_exact<double>(); f && !o.integer) {
        v = *f;
      } else {
        return file + ": '" + path + "' must be " + (o.integer ? "an integer" : "a number");
      }
      if (!(v >= o.min && v <= o.max)) {
        std::ostringstream range;
        range << file << ": '" << path << "' must be between " << o.min << " and " << o.max << " (got " << v << ")";
        return range.str();
      }
      if (!o.given_on_command_line()) o.set(v);
    }
  }
  return {};
}

}  // namespace dm2::sim
