// Reads named attributes from a DICOM file's header (pixel data is not loaded). The ingest uses
// it to take the few index attributes (modality, body part, manufacturer, dates, sex, birth date
// for the age band) and the nominative link's keys from a series' first file.
// The values may be nominative: never log them. Thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::pacs {

// keyword -> value (DICOM string form, trailing padding removed; "" when absent).
// Errors: invalid_argument (an unknown keyword), malformed_input (not readable as DICOM).
result<std::map<std::string, std::string>> read_header_fields(const std::filesystem::path& file,
                                                              const std::vector<std::string>& keywords);

}  // namespace dm2::pacs
