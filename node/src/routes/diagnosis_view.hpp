// How a series' diagnoses are shown to a caller (docs/security.md, "Diagnoses"): codes to whoever
// may see the record, each free text only at the owning site and only to whom the policy lets
// read the class `diagnoses` of that series.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dm2/result.hpp"
#include "dm2/storage/index_record.hpp"
#include "route_context.hpp"

namespace dm2::node {

// [diagnosis_json...] of `r`; with `with_texts` and `r` owned by this site, each kept text too.
// Errors: those of diagnosis_texts::text.
result<nlohmann::json> diagnoses_json(const route_context& c, const storage::index_record& r, bool with_texts);

// The local copy of a record (nullopt: none here, or it does not decode).
std::optional<storage::index_record> local_record(const route_context& c, const std::string& lfn);

}  // namespace dm2::node
