// An index hit in the DICOM JSON model (PS3.18 F.2) as QIDO-RS answers it (docs/dicomweb.md,
// "What a result holds"): pseudonymous UIDs from the LFN, the index attributes with their VRs,
// the nominative attributes a study result requires present and empty, and dm2's own facts
// (LFN, owner site, age band, diagnosis codes) in a private block. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "qido_request.hpp"

namespace dm2::node::dicomweb {

// Who the patient of a series is, as the owning site's nominative link says (docs/dicomweb.md,
// "Identifiers"): shown only to the care team at the owning site.
struct patient_names {
  std::string name;       // PatientName, DICOM PN ("FAMILY^GIVEN")
  std::string id;         // PatientID
  std::string accession;  // AccessionNumber
};

// `attributes`: a query hit's attributes object (query_scoring.cpp: modality, body_part,
// manufacturer, study_date, series_date, sex, age_band, diagnoses[]); values that are not strings
// or do not fit their VR are left out (they come from peers' records). `base_url`: the service
// root, "https://host:port/dicom-web", for RetrieveURL.
nlohmann::json qido_result(qido_level level, const std::string& lfn, const std::string& owner,
                           const nlohmann::json& attributes, const std::string& base_url);

// `result` (of qido_result) with its PatientName, PatientID and AccessionNumber set to `names`'
// (their empty ones left empty).
void add_patient_names(nlohmann::json& result, const patient_names& names);

}  // namespace dm2::node::dicomweb
