#include "dm2/storage/index_record.hpp"

#include <algorithm>

#include "byte_io.hpp"

namespace dm2::storage {
namespace {

constexpr std::uint8_t record_format = 1;
constexpr std::uint8_t record_format_with_diagnoses = 2;
using limits = index_record_limits;

bool is_site_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Attribute text: no control characters (they would end up in logs and JSON).
bool is_text(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool is_date(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() != 8) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  int month = (s[4] - '0') * 10 + (s[5] - '0');
  int day = (s[6] - '0') * 10 + (s[7] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

error bad(std::string_view field, std::string_view why) {
  return fail(errc::malformed_input, "index record: " + std::string(field) + " " + std::string(why));
}

status check_text(std::string_view field, std::string_view value, std::size_t limit) {
  if (value.size() > limit) return bad(field, "longer than " + std::to_string(limit) + " bytes");
  if (!is_text(value)) return bad(field, "contains control characters");
  return {};
}

void write(detail::byte_writer& w, const index_record& r, bool with_owner_signature) {
  w.u8(r.diagnoses.empty() ? record_format : record_format_with_diagnoses);
  w.raw(r.lfn);
  w.u64(r.version);
  w.str8(r.owner_site);
  const auto& a = r.attributes;
  w.str8(a.modality);
  w.str8(a.body_part);
  w.str8(a.manufacturer);
  w.str8(a.study_date);
  w.str8(a.series_date);
  w.str8(a.sex);
  w.str8(a.age_band);
  w.str32(r.signature);
  if (!r.diagnoses.empty()) {
    w.u8(static_cast<std::uint8_t>(r.diagnoses.size()));
    for (const auto& d : r.diagnoses) {
      w.str8(d.code);
      w.str8(d.recorded_on);
      w.u8(d.has_text ? 1 : 0);
    }
  }
  w.str8(with_owner_signature ? std::string_view(r.owner_signature) : std::string_view());
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// The diagnoses of a format-2 encoding: a count of 1..16 (format 1 says "none"), then each
// code, day and text flag (0 or 1).
status read_diagnoses(detail::byte_reader& in, std::vector<diagnosis>& out) {
  auto count = in.be(1);
  if (!count || *count == 0 || *count > limits::diagnoses) return bad("diagnoses", "count is not 1 to 16");
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto code = in.str(1, limits::diagnosis_code);
    auto day = in.str(1, 8);
    auto flag = in.be(1);
    if (!code || !day || !flag || *flag > 1) return bad("diagnoses", "are truncated or malformed");
    out.push_back({std::string(*code), std::string(*day), *flag == 1});
  }
  return {};
}

}  // namespace

bool valid_diagnosis_code(std::string_view code) {
  if (code.size() < 3 || code.size() > limits::diagnosis_code || code.size() == 4) return false;
  if (!is_upper(code[0]) || !is_digit(code[1]) || !is_digit(code[2])) return false;
  if (code.size() == 3) return true;
  if (code[3] != '.') return false;
  return std::all_of(code.begin() + 4, code.end(), [](char c) { return is_digit(c) || is_upper(c); });
}

status validate(const index_record& r) {
  if (r.lfn.size() != lfn_size) return bad("lfn", "is not 16 bytes");
  if (r.owner_site.empty() || r.owner_site.size() > limits::owner_site)
    return bad("owner_site", "must be 1 to 64 characters");
  for (char c : r.owner_site)
    if (!is_site_char(c)) return bad("owner_site", "has a character outside [A-Za-z0-9._-]");
  const auto& a = r.attributes;
  if (auto s = check_text("modality", a.modality, limits::modality); !s) return s;
  if (auto s = check_text("body_part", a.body_part, limits::body_part); !s) return s;
  if (auto s = check_text("manufacturer", a.manufacturer, limits::manufacturer); !s) return s;
  if (auto s = check_text("age_band", a.age_band, limits::age_band); !s) return s;
  if (!is_date(a.study_date)) return bad("study_date", "is not YYYYMMDD");
  if (!is_date(a.series_date)) return bad("series_date", "is not YYYYMMDD");
  if (!(a.sex.empty() || a.sex == "M" || a.sex == "F" || a.sex == "O"))
    return bad("sex", "is not M, F, O or empty");
  if (r.signature.size() > limits::signature) return bad("signature", "is over 4 MiB");
  if (r.owner_signature.size() > limits::owner_signature)
    return bad("owner_signature", "is over 128 bytes");
  if (r.diagnoses.size() > limits::diagnoses) return bad("diagnoses", "are more than 16");
  for (const auto& d : r.diagnoses) {
    if (!d.code.empty() && !valid_diagnosis_code(d.code)) return bad("diagnosis code", "is not of ICD-10 shape");
    if (d.code.empty() && !d.has_text) return bad("diagnosis", "has neither code nor text");
    if (d.recorded_on.empty() || !is_date(d.recorded_on)) return bad("diagnosis recorded_on", "is not YYYYMMDD");
  }
  return {};
}

std::string encode_index_record(const index_record& r) {
  detail::byte_writer w;
  write(w, r, true);
  return std::move(w).take();
}

std::string signed_payload(const index_record& r) {
  detail::byte_writer w;
  w.raw("dm2 index record\n");
  write(w, r, false);
  return std::move(w).take();
}

result<index_record> decode_index_record(std::string_view bytes) {
  if (bytes.size() > limits::encoded) return bad("encoding", "is too large");
  detail::byte_reader in(bytes);
  auto format = in.be(1);
  if (!format) return bad("encoding", "is empty");
  if (*format != record_format && *format != record_format_with_diagnoses)
    return bad("format", "is unknown (" + std::to_string(*format) + ")");
  index_record r;
  auto lfn = in.raw(lfn_size);
  auto version = in.be(8);
  if (!lfn || !version) return bad("encoding", "is truncated");
  r.lfn = *lfn;
  r.version = *version;
  struct field {
    std::string* out;
    std::size_t prefix, limit;
    const char* name;
  };
  auto& a = r.attributes;
  const field fields[] = {
      {&r.owner_site, 1, limits::owner_site, "owner_site"},
      {&a.modality, 1, limits::modality, "modality"},
      {&a.body_part, 1, limits::body_part, "body_part"},
      {&a.manufacturer, 1, limits::manufacturer, "manufacturer"},
      {&a.study_date, 1, 8, "study_date"},
      {&a.series_date, 1, 8, "series_date"},
      {&a.sex, 1, 1, "sex"},
      {&a.age_band, 1, limits::age_band, "age_band"},
      {&r.signature, 4, limits::signature, "signature"},
  };
  for (const auto& f : fields) {
    auto s = in.str(f.prefix, f.limit);
    if (!s) return bad(f.name, "is truncated or over its limit");
    f.out->assign(*s);
  }
  if (*format == record_format_with_diagnoses)
    if (auto s = read_diagnoses(in, r.diagnoses); !s) return s.err();
  auto owner_signature = in.str(1, limits::owner_signature);
  if (!owner_signature) return bad("owner_signature", "is truncated or over its limit");
  r.owner_signature.assign(*owner_signature);
  if (!in.at_end()) return bad("encoding", "has trailing bytes");
  if (auto s = validate(r); !s) return std::move(s).err();
  return r;
}

bool supersedes(const index_record& a, const index_record& b) {
  if (a.version != b.version) return a.version > b.version;
  return a.owner_signature > b.owner_signature;
}

}  // namespace dm2::storage
