#include "provenance_record.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace dm2::node {
namespace {

using json = nlohmann::json;

bool is_hex(const json& v, std::size_t size) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == size && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Names, versions, parameters and site ids: echoed and logged, so short and plain.
bool is_name(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return !s.empty() && s.size() <= 64 &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string::npos;
}

// Parameters are the registry's own short texts: printable ASCII.
bool is_text(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

bool is_provenance_id(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string encode_provenance(const provenance_record& p) {
  json parameters = json::object();
  for (const auto& [key, value] : p.parameters) parameters[key] = value;
  return json{{"id", p.id},
              {"algorithm", {{"name", p.algorithm}, {"version", p.version}, {"parameters", parameters}}},
              {"query_volume", {{"sha256", p.query_volume_sha256}, {"grid", p.grid}}},
              {"input", {{"lfn", p.lfn}, {"series_version", p.series_version}}},
              {"score", p.score},
              {"computed_by", p.computed_by},
              {"computed_at_ms", p.computed_at_ms},
              {"first_query", p.first_query}}
      .dump();
}

result<provenance_record> parse_provenance(std::string_view text) {
  const auto v = json::parse(text, nullptr, false);
  auto shape = fail(errc::malformed_input, "not a provenance record");
  if (!v.is_object() || v.size() != 8) return shape;
  const auto a = v.value("algorithm", json()), q = v.value("query_volume", json()), in = v.value("input", json());
  if (!is_hex(v.value("id", json()), 32) || !a.is_object() || a.size() != 3 || !is_name(a.value("name", json())) ||
      !is_name(a.value("version", json())) || !a.value("parameters", json()).is_object() || !q.is_object() ||
      q.size() != 2 || !is_hex(q.value("sha256", json()), 64) || !q.value("grid", json()).is_number_unsigned() ||
      !in.is_object() || in.size() != 2 || !is_hex(in.value("lfn", json()), 32) ||
      !in.value("series_version", json()).is_number_unsigned() || !v.value("score", json()).is_number() ||
      !is_name(v.value("computed_by", json())) || !v.value("computed_at_ms", json()).is_number_integer() ||
      !is_hex(v.value("first_query", json()), 32))
    return shape;
  provenance_record p;
  p.id = v["id"].get<std::string>();
  p.algorithm = a["name"].get<std::string>();
  p.version = a["version"].get<std::string>();
  for (const auto& [key, value] : a["parameters"].items()) {
    if (!is_text(json(key)) || !is_text(value)) return shape;
    p.parameters.emplace_back(key, value.get<std::string>());
  }
  p.query_volume_sha256 = q["sha256"].get<std::string>();
  p.grid = q["grid"].get<std::uint64_t>();
  p.lfn = in["lfn"].get<std::string>();
  p.series_version = in["series_version"].get<std::uint64_t>();
  p.score = v["score"].get<double>();
  if (!std::isfinite(p.score)) return shape;
  p.computed_by = v["computed_by"].get<std::string>();
  p.computed_at_ms = v["computed_at_ms"].get<std::int64_t>();
  p.first_query = v["first_query"].get<std::string>();
  return p;
}

}  // namespace dm2::node
