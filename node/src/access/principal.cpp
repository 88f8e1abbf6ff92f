#include "principal.hpp"

namespace dm2::node::access {

std::string session_token_of(const std::map<std::string, std::string>& headers) {
  if (auto a = headers.find("authorization"); a != headers.end()) {
    constexpr std::string_view bearer = "Bearer ";
    if (a->second.size() > bearer.size() && a->second.compare(0, bearer.size(), bearer) == 0)
      return a->second.substr(bearer.size());
    return {};
  }
  auto c = headers.find("cookie");
  if (c == headers.end()) return {};
  std::string_view rest = c->second;
  while (!rest.empty()) {
    auto pair = rest.substr(0, rest.find(';'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    constexpr std::string_view name = "dm2_session=";
    if (pair.substr(0, name.size()) == name) return std::string(pair.substr(name.size()));
  }
  return {};
}

}  // namespace dm2::node::access
