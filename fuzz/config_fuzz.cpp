// libFuzzer target: dm2d's TOML configuration (dm2/node/config.hpp, parse_config) on arbitrary
// text. An operator's typo must give an error naming the line, never a crash; no exception may
// leave the parser (toml++ throws on bad syntax, parse_config turns that into invalid_config).
#include <cstdint>
#include <string_view>

#include "dm2/node/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto c = dm2::node::parse_config(input, "fuzz.toml"); c.ok()) (void)dm2::node::validate(*c);
  return 0;
}
