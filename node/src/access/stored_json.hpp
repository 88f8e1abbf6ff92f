// The access layer's stored values are JSON objects; what is read back was written by us, so a
// value that does not parse is an integrity failure, not bad input.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::node::access {

// Errors: integrity_failure (not a JSON object).
inline result<nlohmann::json> parse_stored(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return fail(errc::integrity_failure, "a stored access value is not a JSON object");
  return j;
}

}  // namespace dm2::node::access
