#include "query_body.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/index_record.hpp"
#include "similarity/registry.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

error bad(const std::string& field, const std::string& why) {
  return error{errc::invalid_argument, field + ": " + why};
}

bool is_date(const std::string& d) {
  return d.size() == 8 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A non-empty string of at most `limit` bytes, with no control characters.
result<std::string> text(const json& v, const std::string& field, std::size_t limit) {
  if (!v.is_string()) return bad(field, "must be a string");
  auto s = v.get<std::string>();
  if (s.empty() || s.size() > limit) return bad(field, "must be 1.." + std::to_string(limit) + " bytes");
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return bad(field, "must not contain control characters");
  return s;
}

result<storage::date_range> dates(const json& v, const std::string& field) {
  if (!v.is_object()) return bad(field, "must be an object {from, to}");
  storage::date_range r;
  for (const auto& [key, value] : v.items()) {
    if (key != "from" && key != "to") return bad(field + "." + key, "unknown field");
    if (!value.is_string() || !is_date(value.get<std::string>())) return bad(field + "." + key, "must be YYYYMMDD");
    (key == "from" ? r.from : r.to) = value.get<std::string>();
  }
  if (r.from > r.to) return bad(field, "from is after to");
  return r;
}

status parse_filters(const json& v, storage::index_filter& f) {
  if (!v.is_object()) return bad("filters", "must be an object");
  using limits = storage::index_record_limits;
  const std::pair<const char*, std::pair<std::optional<std::string>*, std::size_t>> equalities[] = {
      {"modality", {&f.modality, limits::modality}},
      {"body_part", {&f.body_part, limits::body_part}},
      {"manufacturer", {&f.manufacturer, limits::manufacturer}},
      {"age_band", {&f.age_band, limits::age_band}},
      {"sex", {&f.sex, 1}},
      {"diagnosis_code", {&f.diagnosis_code, limits::diagnosis_code}}};
  for (const auto& item : v.items()) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    const auto& key = item.key();
    const auto& value = item.value();
    auto field = "filters." + key;
    auto eq = std::find_if(std::begin(equalities), std::end(equalities), [&](const auto& e) { return key == e.first; });
    if (eq != std::end(equalities)) {
      auto s = text(value, field, eq->second.second);
      if (!s) return std::move(s).err();
      if (key == "sex" && *s != "M" && *s != "F" && *s != "O") return bad(field, "must be M, F or O");
      if (key == "diagnosis_code" && !storage::valid_diagnosis_code(*s))
        return bad(field, "must be an ICD-10 code or category (\"I21\", \"I21.4\")");
      *eq->second.first = std::move(*s);
    } else if (key == "study_date" || key == "series_date") {
      auto r = dates(value, field);
      if (!r) return std::move(r).err();
      (key == "study_date" ? f.study_date : f.series_date) = *r;
    } else {
      return bad(field, "unknown filter");
    }
  }
  return {};
}

// A DICOM UID: 1..64 characters, digits and dots (PS3.5 9.1).
bool is_uid(const std::string& u) {
  return !u.empty() && u.size() <= query_limits::max_uid &&
         std::all_of(u.begin(), u.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// An uploaded file (field `field`, base64), when the upload's files before it hold `before` bytes:
// refused by its length before decoding (base64 of n bytes is at least 4n/3 - 3 characters).
// Errors: invalid_argument (not base64, empty), too_large (the upload over max_upload_bytes).
result<std::string> upload_file(const std::string& text, const std::string& field, std::size_t before) {
  const auto too_large = [&] {
    return fail(errc::too_large, field + ": over " + std::to_string(query_limits::max_upload_bytes) + " bytes");
  };
  if (before + text.size() / 4 * 3 > query_limits::max_upload_bytes + 3) return too_large();
  auto raw = crypto::from_base64(text);
  if (!raw || raw->empty()) return bad(field, field == "nifti" ? "must be a NIfTI-1 file in base64" : "each file must be a DICOM file in base64");
  if (before + raw->size() > query_limits::max_upload_bytes) return too_large();
  return std::move(*raw);
}

result<query_submission> parse(std::string_view text_in, bool with_timeout) {
  const auto limit = with_timeout ? query_limits::max_upload_body_bytes : query_limits::max_body_bytes;
  if (text_in.size() > limit) return fail(errc::too_large, "query body over " + std::to_string(limit) + " bytes");
  auto v = json::parse(text_in, nullptr, false);
  if (!v.is_object()) return fail(errc::malformed_input, "the query body must be a JSON object");
  if (text_in.size() > query_limits::max_body_bytes && !v.contains("nifti") && !v.contains("dicom"))
    return fail(errc::too_large, "query body over " + std::to_string(query_limits::max_body_bytes) +
                                     " bytes (only an uploaded volume may be larger)");
  query_submission out;
  auto& b = out.body;
  const int local_sources = v.contains("lfn") + v.contains("by_series") + v.contains("pacs_series") +
                            v.contains("nifti") + v.contains("dicom");
  if (v.contains("signature") + v.contains("signature_hex") + (with_timeout ? local_sources : 0) > 1)
    return bad("signature",
               "give one of signature (base64), signature_hex, lfn, by_series, pacs_series, nifti and dicom");
  bool depth_given = false;
  for (const auto& [key, value] : v.items()) {
    if (key == "filters") {
      if (auto s = parse_filters(value, b.filters); !s) return std::move(s).err();
    } else if (key == "signature" || key == "signature_hex") {
      if (!value.is_string()) return bad(key, "must be a string");
      auto raw = key == "signature" ? crypto::from_base64(value.get<std::string>())
                                    : crypto::from_hex(value.get<std::string>());
      if (!raw) return bad(key, key == "signature" ? "not base64" : "not hex");
      if (raw->empty() || raw->size() % 4 != 0) return bad(key, "must be a whole, non-zero number of float32 samples");
      if (raw->size() > query_limits::max_signature_bytes)
        return bad(key, "over " + std::to_string(query_limits::max_signature_bytes) + " bytes");
      b.signature = std::move(*raw);
    } else if (key == "measure" || (key == "measure_version" && with_timeout)) {
      if (!value.is_string() || value.get_ref<const std::string&>().size() > 32) return bad(key, "must be a short string");
      (key == "measure" ? out.measure : out.measure_version) = value.get<std::string>();
    } else if (key == "stage2_depth" && with_timeout) {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() > query_limits::max_stage_two_depth)
        return bad(key, "must be an integer in 0.." + std::to_string(query_limits::max_stage_two_depth));
      out.stage_two_depth = value.get<std::size_t>();
      depth_given = true;
    } else if (key == "top_k") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() < 1 || value.get<std::uint64_t>() > query_limits::max_top_k)
        return bad(key, "must be an integer in 1.." + std::to_string(query_limits::max_top_k));
      b.top_k = value.get<std::size_t>();
    } else if (key == "user" || key == "purpose") {
      auto s = text(value, key, query_limits::max_text);
      if (!s) return std::move(s).err();
      (key == "user" ? b.user : b.purpose) = std::move(*s);
    } else if ((key == "lfn" || key == "by_series") && with_timeout) {
      if (!value.is_string()) return bad(key, "must be 32 hex digits");
      auto raw = crypto::from_hex(value.get<std::string>());
      if (!raw || raw->size() != storage::lfn_size) return bad(key, "must be 32 hex digits");
      (key == "lfn" ? out.lfn : out.by_series) = crypto::to_hex(*raw);
    } else if (key == "nifti" && with_timeout) {
      if (!value.is_string()) return bad(key, "must be a NIfTI-1 file in base64");
      auto raw = upload_file(value.get_ref<const std::string&>(), key, 0);
      if (!raw) return std::move(raw).err();
      out.nifti = std::move(*raw);
    } else if (key == "dicom" && with_timeout) {
      if (!value.is_array() || value.empty()) return bad(key, "must be a non-empty array of DICOM files in base64");
      if (value.size() > query_limits::max_upload_files)
        return fail(errc::too_large, "dicom: over " + std::to_string(query_limits::max_upload_files) + " files");
      std::size_t total = 0;
      for (const auto& file : value) {
        if (!file.is_string()) return bad(key, "must be a non-empty array of DICOM files in base64");
        auto raw = upload_file(file.get_ref<const std::string&>(), key, total);
        if (!raw) return std::move(raw).err();
        total += raw->size();
        out.dicom.push_back(std::move(*raw));
      }
    } else if (key == "pacs_series" && with_timeout) {
      if (!value.is_object()) return bad(key, "must be {\"series_uid\":…, \"study_uid\":…}");
      for (const auto& [uid_key, uid] : value.items()) {
        if (uid_key != "series_uid" && uid_key != "study_uid") return bad(key + "." + uid_key, "unknown field");
        if (!uid.is_string() || !is_uid(uid.get_ref<const std::string&>()))
          return bad(key + "." + uid_key, "must be a DICOM UID (digits and dots, at most 64)");
        (uid_key == "series_uid" ? out.pacs_series_uid : out.pacs_study_uid) = uid.get<std::string>();
      }
      if (out.pacs_series_uid.empty()) return bad(key + ".series_uid", "is required");
    } else if (key == "timeout_ms" && with_timeout) {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() < 1 ||
          value.get<std::uint64_t>() > static_cast<std::uint64_t>(query_limits::max_timeout.count()))
        return bad(key, "must be an integer in 1.." + std::to_string(query_limits::max_timeout.count()));
      out.timeout = std::chrono::milliseconds(value.get<std::int64_t>());
    } else {
      return bad(key, "unknown field");
    }
  }
  // Stage 1 is NCC of signatures everywhere; another measure runs in stage 2, on a query volume.
  if (auto m = similarity::measure_registry::builtin().find(out.measure, out.measure_version); !m)
    return bad(out.measure_version.empty() ? "measure" : "measure_version", m.err().message);
  if (!out.by_image()) {
    const std::string needs = "needs a query by image (by_series, pacs_series, nifti or dicom)";
    if (out.measure != "ncc" || !out.measure_version.empty())
      return bad("measure", "\"" + out.measure + "\" " + (with_timeout ? needs : "is not a stage-1 measure"));
    if (out.stage_two_depth > 0) return bad("stage2_depth", needs);
  } else if (!depth_given) {
    out.stage_two_depth = query_limits::default_stage_two_depth;
  }
  return out;
}

}  // namespace

result<query_submission> parse_query_submission(std::string_view json_text) { return parse(json_text, true); }

result<query_body> parse_query_body(std::string_view json_text) {
  auto s = parse(json_text, false);
  if (!s) return std::move(s).err();
  return std::move(s->body);
}

std::string canonical_json(const query_body& b) {
  json filters = json::object();
  const auto& f = b.filters;
  for (const auto& [key, value] : {std::pair{"modality", &f.modality}, {"body_part", &f.body_part},
                                   {"manufacturer", &f.manufacturer}, {"age_band", &f.age_band}, {"sex", &f.sex},
                                   {"diagnosis_code", &f.diagnosis_code}})
    if (*value) filters[key] = **value;
  for (const auto& [key, value] : {std::pair{"study_date", &f.study_date}, {"series_date", &f.series_date}})
    if (*value) filters[key] = {{"from", (*value)->from}, {"to", (*value)->to}};
  json out = {{"filters", filters}, {"measure", b.measure}, {"top_k", b.top_k}};
  if (!b.signature.empty()) out["signature"] = crypto::to_base64(b.signature);
  if (!b.user.empty()) out["user"] = b.user;
  if (!b.purpose.empty()) out["purpose"] = b.purpose;
  return out.dump();  // nlohmann's object keeps keys sorted: one text per body
}

}  // namespace dm2::node
