#include "index_keys.hpp"

#include <algorithm>

#include "dm2/crypto/hash.hpp"

namespace dm2::storage::detail {

std::string equality_prefix(std::string_view blind_key, attr a, std::string_view value) {
  std::string id(1, static_cast<char>(a));
  std::string token = crypto::hmac_sha256(blind_key, id + std::string(value));
  return id + token.substr(0, blind_token_size);
}

std::vector<std::string> index_keys_of(std::string_view blind_key, const index_record& r) {
  std::vector<std::string> keys;
  const auto& a = r.attributes;
  auto equality = [&](attr id, const std::string& value) {
    if (!value.empty()) keys.push_back(equality_prefix(blind_key, id, value) + r.lfn);
  };
  auto date = [&](attr id, const std::string& value) {
    if (!value.empty()) keys.push_back(std::string(1, static_cast<char>(id)) + value + r.lfn);
  };
  equality(attr::modality, a.modality);
  equality(attr::body_part, a.body_part);
  equality(attr::manufacturer, a.manufacturer);
  equality(attr::sex, a.sex);
  equality(attr::age_band, a.age_band);
  equality(attr::owner_site, r.owner_site);
  std::vector<std::string> codes;  // a code (or category) is listed once per record
  for (const auto& d : r.diagnoses) {
    if (d.code.empty()) continue;
    codes.emplace_back(d.code);
    codes.emplace_back(diagnosis_category(d.code));
  }
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  for (const auto& code : codes) equality(attr::diagnosis_code, code);
  date(attr::study_date, a.study_date);
  date(attr::series_date, a.series_date);
  return keys;
}

}  // namespace dm2::storage::detail
