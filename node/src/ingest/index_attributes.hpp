// The index record's attributes of a series (docs/ingest.md, "What the index holds"): modality,
// body part, manufacturer, study and series dates, sex, and an age band computed from the birth
// and study dates — nothing else: never a name, an ID, a UID or free text. Values that would not
// pass storage::validate (too long, odd characters, bad dates) are dropped, not truncated.
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "dm2/storage/index_record.hpp"

namespace dm2::node {

// The header keywords attributes_from reads.
const std::vector<std::string>& attribute_keywords();
// From a series' header fields (keyword -> value, as pacs::read_header_fields gives them).
storage::index_attributes attributes_from(const std::map<std::string, std::string>& header);
// "040-049" from YYYYMMDD birth and study dates; "" when either is missing or malformed.
// Ten-year bands; 90 and over is "090+" (HIPAA's safe-harbour cut-off).
std::string age_band(const std::string& birth_date, const std::string& study_date);

}  // namespace dm2::node
