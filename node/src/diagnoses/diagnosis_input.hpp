// A physician's diagnosis for a series (POST /v1/series/{lfn}/diagnoses, docs/api.md): the body
// parsed strictly, and the JSON a diagnosis is shown as. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "dm2/result.hpp"
#include "dm2/storage/index_record.hpp"

namespace dm2::node {

struct diagnosis_limits {
  static constexpr std::size_t max_body_bytes = 4096;
  static constexpr std::size_t max_text = 1024;  // bytes of UTF-8; a short note, not a report
};

struct diagnosis_input {
  std::string code;  // "" or an ICD-10 code by shape (storage::valid_diagnosis_code)
  std::string text;  // "" or 1..max_text bytes, no control characters but newline
};

// {"code": "I21.4", "text": "..."}: at least one of them; unknown fields refused. Errors:
// too_large (body over max_body_bytes), malformed_input (not a JSON object), invalid_argument
// naming the field (wrong type, a code not of ICD-10 shape, text empty, over 1024 bytes or with
// control characters, neither code nor text).
result<diagnosis_input> parse_diagnosis_input(std::string_view body);

// {"n": position (1-based), "code": "I21.4" or null, "recorded_on": "YYYYMMDD",
//  "has_text": bool} plus "text" when `text` is given.
nlohmann::json diagnosis_json(std::size_t n, const storage::diagnosis& d, const std::optional<std::string>& text = {});

}  // namespace dm2::node
