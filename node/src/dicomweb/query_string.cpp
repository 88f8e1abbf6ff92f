#include "query_string.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace dm2::node::dicomweb {
namespace {

std::optional<std::string> decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else {
      unsigned v = 0;
      if (i + 2 >= s.size()) return std::nullopt;
      auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (r.ec != std::errc{} || r.ptr != s.data() + i + 3) return std::nullopt;
      out.push_back(static_cast<char>(v));
      i += 2;
    }
  }
  if (std::any_of(out.begin(), out.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return std::nullopt;
  return out;
}

}  // namespace

result<std::vector<std::pair<std::string, std::string>>> query_parameters(std::string_view target) {
  auto mark = target.find('?');
  std::string_view rest =
      mark == std::string_view::npos ? std::string_view{} : target.substr(mark + 1);
  std::vector<std::pair<std::string, std::string>> out;
  while (!rest.empty()) {
    auto pair = rest.substr(0, rest.find('&'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto name = decoded(pair.substr(0, eq));
    auto value = decoded(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!name || !value)
      return fail(errc::invalid_argument,
                  "query string: bad percent-encoding or a control character");
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

}  // namespace dm2::node::dicomweb
