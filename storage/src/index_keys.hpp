// Secondary-index keys (record_index family). An entry is a key with an empty value:
//   equality attribute: attr id (1) || HMAC-SHA256(blind key, id || value)[0..16) || LFN (16)
//   date attribute:     attr id (1) || YYYYMMDD (8)                               || LFN (16)
// Equality values are blinded so the keys on disk do not show modality, manufacturer... in
// clear; dates stay in clear because range scans need their order (docs/storage.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/storage/index_record.hpp"

namespace dm2::storage::detail {

enum class attr : std::uint8_t {
  modality = 1,
  body_part = 2,
  manufacturer = 3,
  sex = 4,
  age_band = 5,
  owner_site = 6,
  diagnosis_code = 7,  // each diagnosis' code and its 3-character category
  study_date = 32,
  series_date = 33,
};

inline constexpr std::size_t blind_token_size = 16;

// The prefix under which every record with `value` for equality attribute `a` is listed.
std::string equality_prefix(std::string_view blind_key, attr a, std::string_view value);
// All index keys a record implies (empty attributes are not indexed).
std::vector<std::string> index_keys_of(std::string_view blind_key, const index_record& r);
// The LFN at the end of an index key (precondition: key.size() > lfn_size).
inline std::string_view lfn_of_index_key(std::string_view key) { return key.substr(key.size() - lfn_size); }

}  // namespace dm2::storage::detail
