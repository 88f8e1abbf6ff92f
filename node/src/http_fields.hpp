// Beast header fields as the rest of the node reads them: a map with lower-case names.
#pragma once

#include <cctype>
#include <map>
#include <string>

namespace dm2::node {

template <class Fields>
std::map<std::string, std::string> lowercase_headers(const Fields& fields) {
  std::map<std::string, std::string> out;
  for (const auto& field : fields) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[name] = std::string(field.value());
  }
  return out;
}

}  // namespace dm2::node
