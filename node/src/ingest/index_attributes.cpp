#include "index_attributes.hpp"

#include <cstdio>

namespace dm2::node {
namespace {

bool is_date(const std::string& d) {
  if (d.size() != 8 || d.find_first_not_of("0123456789") != std::string::npos) return false;
  int month = std::stoi(d.substr(4, 2)), day = std::stoi(d.substr(6, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// Keeps a value only if the record would accept it: printable ASCII within `limit`.
std::string field(const std::map<std::string, std::string>& h, const std::string& key, std::size_t limit) {
  auto it = h.find(key);
  if (it == h.end() || it->second.size() > limit) return {};
  for (char c : it->second)
    if (c < 0x20 || c > 0x7e || c == '\\') return {};
  return it->second;
}

}  // namespace

const std::vector<std::string>& attribute_keywords() {
  static const std::vector<std::string> keys = {"Modality",  "BodyPartExamined", "Manufacturer",    "StudyDate",
                                                "SeriesDate", "PatientSex",      "PatientBirthDate"};
  return keys;
}

std::string age_band(const std::string& birth, const std::string& study) {
  if (!is_date(birth) || !is_date(study)) return {};
  int years = std::stoi(study.substr(0, 4)) - std::stoi(birth.substr(0, 4));
  if (study.substr(4) < birth.substr(4)) --years;
  if (years < 0 || years > 150) return {};
  if (years >= 90) return "090+";
  char band[16];
  std::snprintf(band, sizeof band, "%03d-%03d", years / 10 * 10, years / 10 * 10 + 9);
  return band;
}

storage::index_attributes attributes_from(const std::map<std::string, std::string>& h) {
  using limits = storage::index_record_limits;
  storage::index_attributes a;
  a.modality = field(h, "Modality", limits::modality);
  a.body_part = field(h, "BodyPartExamined", limits::body_part);
  a.manufacturer = field(h, "Manufacturer", limits::manufacturer);
  auto study = field(h, "StudyDate", 8), series = field(h, "SeriesDate", 8);
  a.study_date = is_date(study) ? study : "";
  a.series_date = is_date(series) ? series : "";
  auto sex = field(h, "PatientSex", 1);
  a.sex = sex == "M" || sex == "F" || sex == "O" ? sex : "";
  a.age_band = age_band(field(h, "PatientBirthDate", 8), a.study_date);
  return a;
}

}  // namespace dm2::node
