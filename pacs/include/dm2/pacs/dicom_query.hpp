// Plain query and answer types for C-FIND / C-GET / C-MOVE. No DCMTK type appears here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dm2::pacs {

// Query/Retrieve level (PS3.4 C.6). PATIENT queries use the Patient Root model, the others
// the Study Root model.
enum class query_level { patient, study, series, image };

// "PATIENT", "STUDY", "SERIES", "IMAGE": the QueryRetrieveLevel value.
const char* level_name(query_level level) noexcept;

// A query: matching keys by DICOM keyword ("PatientID", "StudyDate" = "20240101-", ...).
// Keys given with an empty value are return keys. find() adds the usual return keys of the
// level (UIDs, dates, modality, counts) so callers name only what they match on.
struct dicom_query {
  query_level level = query_level::study;
  std::map<std::string, std::string> keys;  // keyword -> value (DICOM matching syntax)
  bool default_return_keys = true;           // false: send exactly `keys` (find only)
};

// One C-FIND answer: every attribute the PACS returned, by keyword, as DICOM strings.
// May hold nominative data (PatientName, PatientID): never log it.
struct find_match {
  std::map<std::string, std::string> attributes;

  // The value of `keyword`, or "" if the PACS did not return it.
  const std::string& get(const std::string& keyword) const;
};

// What a C-GET or C-MOVE did.
struct retrieve_report {
  std::vector<std::string> files;  // paths of the stored files, as received
  std::vector<std::string> sop_classes;  // C-GET: the SOP Class UID each file came with (same order)
  std::uint64_t bytes = 0;         // their total size
  unsigned completed = 0;          // sub-operations the PACS reported completed
  unsigned failed = 0;             // ... failed
  unsigned warning = 0;            // ... with warnings
};

}  // namespace dm2::pacs
