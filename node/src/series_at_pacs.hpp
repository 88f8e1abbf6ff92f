// A query by the original series at this site's PACS when the ingest has not taken that series
// yet (docs/similarity.md, "Stages"): C-FIND says whose it is before anything is fetched (the
// care team is decided on that patient), then the series is fetched as the ingest fetches
// (C-GET, or C-MOVE with pacs.retrieve = "move") into the private upload scratch folder,
// assembled, and the folder removed. The UIDs and the patient ID are nominative: never logged,
// stored or returned in an error. Thread-safe (each call has its own associations and folder).
#pragma once

#include <cstddef>
#include <string>

#include "dm2/node/config.hpp"
#include "dm2/pacs/site_sync.hpp"
#include "similarity/volume.hpp"

namespace dm2::node {

struct series_at_pacs {
  pacs::series_ref ref;    // study and series UIDs, modality
  std::string patient_id;  // as the PACS holds it
};

// The series `series_uid` (in study `study_uid`, or in any study when empty) at the configured
// PACS. Errors: not_found (no PACS configured, no such series, or not in that study: also when
// the PACS cannot find a series without its study), too_large (over max_instances, as the PACS
// counts them), those of the C-FIND (unavailable, timeout).
result<series_at_pacs> find_series_at_pacs(const node_config& config, const std::string& study_uid,
                                           const std::string& series_uid, std::size_t max_instances);

// Fetches the series into a scratch folder under the data directory, assembles it (at most
// max_voxels) and removes the folder. Errors (messages start with "pacs_series: "): those of
// the fetch and of the assembly.
result<similarity::volume> fetch_series_volume(const node_config& config, const series_at_pacs& series,
                                               std::size_t max_voxels);

}  // namespace dm2::node
