#include "qido_request.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iterator>

#include "dicom_uids.hpp"
#include "query_string.hpp"

namespace dm2::node::dicomweb {
namespace {

error bad(const std::string& what, const std::string& why) {
  return error{errc::invalid_argument, what + ": " + why};
}

enum class key_kind {
  study_uid,
  series_uid,
  study_date,
  series_date,
  modality,
  body_part,
  sex,
  manufacturer
};

struct match_key {
  const char* keyword;
  const char* tag;
  key_kind kind;
};

// The keys the index can match (docs/dicomweb.md). ModalitiesInStudy and Modality match the
// same value: a study here is one series.
constexpr match_key match_keys[] = {
    {"StudyInstanceUID", "0020000D", key_kind::study_uid},
    {"SeriesInstanceUID", "0020000E", key_kind::series_uid},
    {"StudyDate", "00080020", key_kind::study_date},
    {"SeriesDate", "00080021", key_kind::series_date},
    {"ModalitiesInStudy", "00080061", key_kind::modality},
    {"Modality", "00080060", key_kind::modality},
    {"BodyPartExamined", "00180015", key_kind::body_part},
    {"PatientSex", "00100040", key_kind::sex},
    {"Manufacturer", "00080070", key_kind::manufacturer},
};

bool is_tag(std::string_view s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

bool is_keyword(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::isupper(static_cast<unsigned char>(s.front())) &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

const match_key* find_key(const std::string& name) {
  for (const auto& k : match_keys)
    if (name == k.keyword || upper(name) == k.tag) return &k;
  return nullptr;
}

bool is_date(std::string_view d) {
  if (d.size() != 8 ||
      !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  auto month = (d[4] - '0') * 10 + (d[5] - '0');
  auto day = (d[6] - '0') * 10 + (d[7] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// DA matching (PS3.4 C.2.2.2.5): a date, "from-", "-to" or "from-to", inclusive.
result<storage::date_range> date_range(const std::string& key, const std::string& v) {
  storage::date_range r;
  auto dash = v.find('-');
  if (dash == std::string::npos) {
    if (!is_date(v)) return bad(key, "must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD");
    r.from = r.to = v;
    return r;
  }
  auto from = v.substr(0, dash), to = v.substr(dash + 1);
  if ((from.empty() && to.empty()) || (!from.empty() && !is_date(from)) ||
      (!to.empty() && !is_date(to)))
    return bad(key, "must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD");
  if (!from.empty()) r.from = from;
  if (!to.empty()) r.to = to;
  if (r.from > r.to) return bad(key, "the range's start is after its end");
  return r;
}

// A UID list (PS3.18 8.3.4.1: comma-separated, backslash also accepted) -> the LFNs it names;
// UIDs of another form are valid but name nothing here.
status add_uids(const std::string& key, const std::string& v, bool series,
                std::optional<std::set<std::string>>& lfns) {
  std::set<std::string> named;
  std::size_t start = 0, count = 0;
  while (true) {
    auto end = v.find_first_of(",\\", start);
    auto uid = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!valid_uid(uid))
      return bad(key, "not a UID list (digits and dots, at most 64 characters each)");
    if (++count > qido_limits::max_uids)
      return bad(key, "at most " + std::to_string(qido_limits::max_uids) + " UIDs");
    if (auto lfn = series ? lfn_of_series(uid) : lfn_of_study(uid)) named.insert(*lfn);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  // Two keys (study and series UIDs, or the path's and the query's) must both match.
  if (lfns) {
    std::set<std::string> both;
    std::set_intersection(lfns->begin(), lfns->end(), named.begin(), named.end(),
                          std::inserter(both, both.end()));
    named = std::move(both);
  }
  lfns = std::move(named);
  return {};
}

// An attribute value matched by equality: single-valued, no wildcard but a lone "*".
result<std::optional<std::string>> single_value(const std::string& key, const std::string& v,
                                                std::size_t limit) {
  if (v == "*") return std::optional<std::string>{};
  if (v.find_first_of("*?") != std::string::npos)
    return bad(key, "wildcard matching is not supported (a lone \"*\" is)");
  if (v.find_first_of(",\\") != std::string::npos)
    return bad(key, "multiple-value matching is not supported");
  if (v.size() > limit) return bad(key, "over " + std::to_string(limit) + " characters");
  return std::optional<std::string>{v};
}

status apply_key(const match_key& k, const std::string& v, qido_request& q) {
  using limits = storage::index_record_limits;
  const std::string key = k.keyword;
  if (v.empty()) return {};  // universal matching: the attribute is returned, nothing filtered
  auto set = [&](std::optional<std::string>& field, std::size_t limit) -> status {
    auto s = single_value(key, v, limit);
    if (!s) return std::move(s).err();
    if (*s) field = std::move(**s);
    return {};
  };
  switch (k.kind) {
    case key_kind::study_uid:
    case key_kind::series_uid:
      return add_uids(key, v, k.kind == key_kind::series_uid, q.lfns);
    case key_kind::study_date:
    case key_kind::series_date: {
      auto r = date_range(key, v);
      if (!r) return std::move(r).err();
      (k.kind == key_kind::study_date ? q.filter.study_date : q.filter.series_date) = *r;
      return {};
    }
    case key_kind::modality:
      if (q.filter.modality && v != *q.filter.modality && v != "*")
        return bad(key, "contradicts another modality key");
      return set(q.filter.modality, limits::modality);
    case key_kind::body_part:
      return set(q.filter.body_part, limits::body_part);
    case key_kind::manufacturer:
      return set(q.filter.manufacturer, limits::manufacturer);
    case key_kind::sex:
      if (v != "M" && v != "F" && v != "O" && v != "*") return bad(key, "must be M, F or O");
      return set(q.filter.sex, 1);
  }
  return {};
}

result<std::size_t> count(const std::string& key, const std::string& v, std::size_t min,
                          std::size_t max) {
  std::size_t n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size() || n < min || n > max)
    return bad(key, "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  return n;
}

// includefield: "all", or a comma-separated list of keywords and tags. dm2 returns every
// attribute the index holds whatever is asked (docs/dicomweb.md), so the list is only checked.
status check_includefield(const std::string& v) {
  if (v == "all") return {};
  std::size_t start = 0;
  while (true) {
    auto end = v.find(',', start);
    auto field = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!is_tag(field) && !is_keyword(field))
      return bad("includefield", "\"" + field.substr(0, 64) + "\" is not a keyword or a tag");
    if (end == std::string::npos) return {};
    start = end + 1;
  }
}

}  // namespace

result<qido_request> parse_qido(std::string_view target, qido_level level,
                                std::string_view path_study, std::string_view path_series) {
  qido_request q;
  q.level = level;
  if (!path_study.empty())
    if (auto s = add_uids("study UID in the path", std::string(path_study), false, q.lfns); !s)
      return s.err();
  if (!path_series.empty())
    if (auto s = add_uids("series UID in the path", std::string(path_series), true, q.lfns); !s)
      return s.err();
  auto pairs = query_parameters(target);
  if (!pairs) return std::move(pairs).err();
  std::set<std::string> seen;
  bool limit_given = false;
  for (const auto& [name, value] : *pairs) {
    if (name != "includefield" && !seen.insert(name).second) return bad(name, "given twice");
    if (name == "limit") {
      auto n = count("limit", value, 1, qido_limits::max_results);
      if (!n) return std::move(n).err();
      q.limit = *n;
      limit_given = true;
    } else if (name == "offset") {
      auto n = count("offset", value, 0, qido_limits::max_results - 1);
      if (!n) return std::move(n).err();
      q.offset = *n;
    } else if (name == "includefield") {
      if (auto s = check_includefield(value); !s) return s.err();
    } else if (name == "fuzzymatching") {
      if (value != "true" && value != "false")
        return bad("fuzzymatching", "must be true or false");
      if (value == "true")
        q.warnings.push_back(
            "299 dm2: \"The fuzzymatching parameter is not supported. Only literal matching has "
            "been performed.\"");
    } else if (const auto* k = find_key(name)) {
      if (auto s = apply_key(*k, value, q); !s) return s.err();
    } else if ((is_keyword(name) || is_tag(name)) && value.empty()) {
      // An attribute asked for by universal matching: returned if the index holds it (it does
      // not, or it would be a key above), nothing filtered.
    } else {
      return bad(
          name.substr(0, 64),
          is_keyword(name) || is_tag(name)
              ? "not a key this node matches (the index holds no such attribute; docs/dicomweb.md)"
              : "unknown query parameter");
    }
  }
  if (q.offset + q.limit > qido_limits::max_results) {
    if (limit_given)
      return bad("offset", "offset + limit over " + std::to_string(qido_limits::max_results));
    q.limit = qido_limits::max_results - q.offset;
  }
  return q;
}

}  // namespace dm2::node::dicomweb
