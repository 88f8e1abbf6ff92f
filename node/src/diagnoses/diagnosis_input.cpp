#include "diagnosis_input.hpp"

#include <algorithm>

namespace dm2::node {
namespace {

error bad(const std::string& field, const std::string& why) { return fail(errc::invalid_argument, field + ": " + why); }

}  // namespace

result<diagnosis_input> parse_diagnosis_input(std::string_view body) {
  if (body.size() > diagnosis_limits::max_body_bytes)
    return fail(errc::too_large, "diagnosis body over " + std::to_string(diagnosis_limits::max_body_bytes) + " bytes");
  auto v = nlohmann::json::parse(body, nullptr, false);  // invalid UTF-8 does not parse
  if (!v.is_object()) return fail(errc::malformed_input, "the diagnosis must be a JSON object {code, text}");
  diagnosis_input out;
  for (const auto& [key, value] : v.items()) {
    if (key != "code" && key != "text") return bad(key, "unknown field");
    if (!value.is_string()) return bad(key, "must be a string");
    (key == "code" ? out.code : out.text) = value.get<std::string>();
    if (key == "code" && !storage::valid_diagnosis_code(out.code))
      return bad(key, "must be an ICD-10 code (a letter, two digits, optionally '.' and 1 to 4 digits or capitals)");
    if (key == "text") {
      if (out.text.empty() || out.text.size() > diagnosis_limits::max_text)
        return bad(key, "must be 1.." + std::to_string(diagnosis_limits::max_text) + " bytes");
      if (std::any_of(out.text.begin(), out.text.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return (u < 0x20 && c != '\n') || u == 0x7f;
          }))
        return bad(key, "must not contain control characters (newline aside)");
    }
  }
  if (out.code.empty() && out.text.empty()) return bad("code", "give a code, a text, or both");
  return out;
}

nlohmann::json diagnosis_json(std::size_t n, const storage::diagnosis& d, const std::optional<std::string>& text) {
  nlohmann::json out = {{"n", n},
                        {"code", d.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.code)},
                        {"recorded_on", d.recorded_on},
                        {"has_text", d.has_text}};
  if (text) out["text"] = *text;
  return out;
}

}  // namespace dm2::node
