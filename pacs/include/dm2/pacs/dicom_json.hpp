// A DICOM instance held in memory as DICOMweb shows it (docs/dicomweb.md, "WADO-RS"): its
// dataset in the DICOM JSON model (PS3.18 F.2) for a metadata answer, and the instance itself
// with its study and series UIDs replaced, so that what WADO-RS serves names the series as
// QIDO-RS did. Pure functions (DCMTK parses the bytes); thread-safe. The values may be
// nominative in general: never log them.
#pragma once

#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::pacs {

struct dicomweb_uids {
  std::string study;   // StudyInstanceUID to show
  std::string series;  // SeriesInstanceUID to show
};

// The dataset of the instance `dicom` (a Part 10 file) as one DICOM JSON object, with the UIDs
// of `uids`; the pixel data (and any other bulk data) as a BulkDataURI `bulk_data_uri`. The
// SOP Instance UID of the instance in `sop_instance_uid`. Errors: malformed_input (not DICOM).
result<std::string> dicom_json_of(std::string_view dicom, const dicomweb_uids& uids,
                                  const std::string& bulk_data_uri, std::string& sop_instance_uid);

// The SOP Instance UID of the Part 10 file `dicom` ("" when it has none). Errors: malformed_input
// (not DICOM).
result<std::string> sop_instance_uid_of(std::string_view dicom);

// The Part 10 file `dicom` with its StudyInstanceUID and SeriesInstanceUID set to `uids`, in
// its own transfer syntax. Errors: malformed_input (not DICOM), internal (DCMTK cannot write it).
result<std::string> with_uids(std::string_view dicom, const dicomweb_uids& uids);

}  // namespace dm2::pacs
