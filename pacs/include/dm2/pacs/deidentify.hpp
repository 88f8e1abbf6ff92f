// De-identification of DICOM files: the DICOM PS3.15 Annex E Basic Application Level
// Confidentiality Profile (table E.1-1, edition 2023e), private attributes removed, UIDs
// remapped under the consortium secret, dates removed or shifted. What was removed or changed
// comes back separately as the nominative record (DICOM JSON model, PS3.18 F.2), which must be
// stored encrypted like any nominative data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::pacs {

// One row of table E.1-1. A tag matches when (group & group_mask) == group and
// (element & element_mask) == element (masks cover repeating groups such as 60xx overlays).
struct deid_rule {
  std::uint16_t group, element, group_mask, element_mask;
  // What dm2 does: 'X' remove, 'Z' empty (zero-length), 'D' dummy value, 'U' remap UID
  // (on a sequence: keep it and clean what it contains).
  char action;
  const char* standard_action;  // as written in the standard: "X/Z/D", "Z/D", ...
  const char* name;
};

// The whole table, sorted by tag. Compound actions are resolved to the variant that keeps the
// output valid for its IOD: X/Z -> Z, Z/D, X/D and X/Z/D -> D, X/Z/U* -> U.
const std::vector<deid_rule>& basic_profile_table();

enum class date_mode {
  remove,  // dates and times follow the table (emptied, dummied or removed)
  shift,   // Retain Longitudinal Temporal Information with Modified Dates: every DA/DT the table
           // names is kept, moved by shift_days; times are kept
};

struct deid_options {
  std::string uid_secret;         // consortium secret for UID remapping, >= 16 bytes
  date_mode dates = date_mode::remove;
  int shift_days = 0;             // for date_mode::shift; the same for every file of a patient
  std::string patient_pseudonym;  // if set, PatientName and PatientID take this value, else empty
};

struct deid_result {
  std::string nominative_json;  // DICOM JSON object of the original values removed or changed
  std::string sop_instance_uid; // the new (remapped) SOPInstanceUID
};

// "2.25.<decimal of the first 128 bits of HMAC-SHA256(secret, uid)>": the same input UID always
// gives the same output under one secret, and the output is a valid UID (<= 44 characters).
std::string remap_uid(std::string_view secret, std::string_view uid);

// De-identifies `in` into `out` (written atomically; pixel data untouched, transfer syntax kept).
// Errors: invalid_argument (secret shorter than 16 bytes), malformed_input (not DICOM,
// truncated), io_error (cannot write `out`; nothing is left at `out`). Thread-safe.
result<deid_result> deidentify_file(const std::filesystem::path& in, const std::filesystem::path& out,
                                    const deid_options& options);

// The same, with the de-identified file returned in memory (e.g. to encrypt it straight away).
// A deflated input comes out as explicit VR little endian (same pixel data).
result<deid_result> deidentify_to_memory(const std::filesystem::path& in, const deid_options& options,
                                         std::string& dicom_bytes);

// De-identifies the Part 10 object `in`, held in memory (e.g. received from the PACS into memory:
// fetch_options::received), into `dicom_bytes`: the same bytes deidentify_file writes for it,
// a deflated input included. Errors: invalid_argument (short secret), malformed_input (not
// DICOM, truncated, no SOPInstanceUID), internal (cannot encode).
result<deid_result> deidentify_part10(std::string_view in, const deid_options& options, std::string& dicom_bytes);

}  // namespace dm2::pacs
