#include "stage_two.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "owned_volume.hpp"
#include "similarity/query_volume.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

bool is_lfn(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

error bad(const std::string& field, const std::string& why) { return error{errc::invalid_argument, field + ": " + why}; }

}  // namespace

stage_two_score missing_score(const std::string& lfn, const std::string& why) {
  stage_two_score s;
  s.lfn = lfn;
  s.missing = why;
  return s;
}

namespace {
constexpr std::string_view request_magic = "DMS2";
constexpr std::size_t request_prefix = 8;  // the magic and the header's length
}  // namespace

std::string encode_stage_two_request(const stage_two_request& r) {
  auto header = json{{"query", r.query_id}, {"measure", r.measure}, {"version", r.version},
                     {"grid", similarity::query_grid}, {"lfns", r.lfns}}
                    .dump();
  std::string out(request_magic);
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((header.size() >> shift) & 0xff));
  out += header;
  out += r.volume;
  return out;
}

result<stage_two_request> parse_stage_two_request(std::string_view body) {
  if (body.size() < request_prefix || body.substr(0, request_magic.size()) != request_magic)
    return fail(errc::malformed_input, "the stage-2 request must start with DMS2 (docs/api.md)");
  std::size_t header_size = 0;
  for (int i = 3; i >= 0; --i) header_size = header_size << 8 | static_cast<unsigned char>(body[4 + static_cast<std::size_t>(i)]);
  if (header_size == 0 || header_size > max_stage_two_header)
    return fail(errc::malformed_input, "the stage-2 header must be 1.." + std::to_string(max_stage_two_header) + " bytes");
  if (body.size() != request_prefix + header_size + similarity::query_volume_bytes)
    return fail(errc::malformed_input, "the stage-2 request must end with the query volume, exactly " +
                                           std::to_string(similarity::query_volume_bytes) + " bytes");
  auto v = json::parse(body.substr(request_prefix, header_size), nullptr, false);
  if (!v.is_object()) return fail(errc::malformed_input, "the stage-2 header must be a JSON object");
  stage_two_request r;
  for (const auto& [key, value] : v.items()) {
    if (key == "query") {
      if (!is_lfn(value)) return bad(key, "must be 32 lowercase hex digits");  // a query id has an LFN's form
      r.query_id = value.get<std::string>();
    } else if (key == "measure" || key == "version") {
      // Logged and echoed: a short name of [a-z0-9._-] only.
      if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
          value.get_ref<const std::string&>().size() > 32 ||
          value.get_ref<const std::string&>().find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") !=
              std::string::npos)
        return bad(key, "must be 1..32 of a-z 0-9 . _ -");
      (key == "measure" ? r.measure : r.version) = value.get<std::string>();
    } else if (key == "grid") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() != similarity::query_grid)
        return bad(key, "must be " + std::to_string(similarity::query_grid));
    } else if (key == "lfns") {
      if (!value.is_array() || value.empty() || value.size() > max_stage_two_lfns)
        return bad(key, "must be 1.." + std::to_string(max_stage_two_lfns) + " LFNs");
      for (const auto& l : value) {
        if (!is_lfn(l)) return bad(key, "each must be 32 lowercase hex digits");
        r.lfns.push_back(l.get<std::string>());
      }
    } else {
      return bad(key, "unknown field");
    }
  }
  if (r.query_id.empty()) return bad("query", "missing");
  if (r.measure.empty()) return bad("measure", "missing");
  if (r.lfns.empty()) return bad("lfns", "missing");
  r.volume = std::string(body.substr(request_prefix + header_size));
  return r;
}

std::string encode_stage_two_answer(const std::string& site, const similarity::measure& m,
                                    const std::vector<stage_two_score>& scores) {
  json list = json::array();
  for (const auto& s : scores) {
    json one = {{"lfn", s.lfn}};
    if (s.score) {
      one["score"] = *s.score;
      one["series_version"] = s.series_version;
      if (s.provenance) {
        one["provenance"] = json::parse(encode_provenance(*s.provenance));
        one["reused"] = s.reused;
      }
    } else {
      one["missing"] = s.missing;
    }
    list.push_back(std::move(one));
  }
  return json{{"site", site}, {"algorithm", {{"name", m.name}, {"version", m.version}}}, {"scores", list}}.dump();
}

result<stage_two_answer> parse_stage_two_answer(std::string_view text) {
  auto v = json::parse(text, nullptr, false);
  auto shape = fail(errc::malformed_input, "the owner's stage-2 answer is not the expected JSON");
  if (!v.is_object() || !v["site"].is_string() || !v["algorithm"].is_object() || !v["scores"].is_array()) return shape;
  const auto& algorithm = v["algorithm"];
  if (!algorithm.contains("name") || !algorithm["name"].is_string() || !algorithm.contains("version") ||
      !algorithm["version"].is_string())
    return shape;
  stage_two_answer a{v["site"].get<std::string>(), algorithm["name"].get<std::string>(),
                     algorithm["version"].get<std::string>(), {}};
  for (const auto& s : v["scores"]) {
    if (!s.is_object() || !is_lfn(s.value("lfn", json()))) return shape;
    auto one = missing_score(s["lfn"].get<std::string>(), "failed");
    if (s.contains("score") && s["score"].is_number() && s.contains("series_version") &&
        s["series_version"].is_number_unsigned()) {
      one.score = s["score"].get<double>();
      one.series_version = s["series_version"].get<std::uint64_t>();
      one.missing.clear();
      auto p = s.contains("provenance") ? parse_provenance(s["provenance"].dump())
                                        : result<provenance_record>(fail(errc::malformed_input, ""));
      if (p && p->lfn == one.lfn && p->series_version == one.series_version && p->algorithm == a.algorithm &&
          p->version == a.version && p->computed_by == a.site && p->score == *one.score) {
        one.provenance = std::move(*p);
        one.reused = s.value("reused", false) == true;
      }
    } else if (s.contains("missing") && s["missing"].is_string() && s["missing"].get_ref<const std::string&>().size() <= 32) {
      one.missing = s["missing"].get<std::string>();
    }
    a.scores.push_back(std::move(one));
  }
  return a;
}

stage_two_score score_owned_series(overlay_service& overlay, const ingest_service& ingest, const similarity::measure& m,
                                   const similarity::scorer& score_of, const std::string& lfn) {
  auto out = missing_score(lfn, "");
  auto opened = open_owned_volume(overlay, ingest, lfn);
  if (!opened) {
    out.missing = opened.err().code == errc::not_found ? "no_volume" : "failed";
    spdlog::warn("event=stage2_volume_unusable lfn={} reason=\"{}\"", lfn, opened.err().message);
    return out;
  }
  auto candidate = similarity::query_volume(opened->volume);
  auto score = candidate ? score_of(*candidate) : result<double>(std::move(candidate).err());
  if (!score) {
    out.missing = "failed";
    spdlog::warn("event=stage2_score_failed lfn={} measure={}/{} reason=\"{}\"", lfn, m.name, m.version,
                 score.err().message);
    return out;
  }
  out.score = *score;
  out.series_version = opened->series_version;
  return out;
}

}  // namespace dm2::node
