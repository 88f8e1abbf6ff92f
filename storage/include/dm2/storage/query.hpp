// Filters for database::query: attribute equality and inclusive date ranges, answered from the
// secondary index (record_index family). Plain structs.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "dm2/storage/index_record.hpp"

namespace dm2::storage {

struct date_range {
  std::string from = "00000101";  // inclusive, YYYYMMDD
  std::string to = "99991231";    // inclusive, YYYYMMDD
};

// Every set field must match exactly (byte equality, case-sensitive); unset fields match all.
// A filter with no field set returns every record (a full scan, bounded by `limit`).
struct index_filter {
  std::optional<std::string> modality = std::nullopt;
  std::optional<std::string> body_part = std::nullopt;
  std::optional<std::string> manufacturer = std::nullopt;
  std::optional<std::string> sex = std::nullopt;
  std::optional<std::string> age_band = std::nullopt;
  std::optional<std::string> owner_site = std::nullopt;
  // A diagnosis code ("I21.4") or category ("I21"): records with a diagnosis of that code or
  // under that category.
  std::optional<std::string> diagnosis_code = std::nullopt;
  std::optional<date_range> study_date = std::nullopt;
  std::optional<date_range> series_date = std::nullopt;
  std::size_t limit = 10000;  // at most this many records, in LFN order
};

// True when `r` passes every set field of `f` (`limit` aside): what database::query returns, for
// records held elsewhere (a site scoring replicated records for a query).
bool matches(const index_record& r, const index_filter& f);

}  // namespace dm2::storage
