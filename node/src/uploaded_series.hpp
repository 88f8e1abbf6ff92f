// A DICOM series uploaded as a query (POST /v1/queries "dicom"): its instances, untrusted,
// assembled into a volume by DCMTK (pacs::assemble_series) as the ingest assembles the PACS's.
// The files are written to a private scratch folder (<data_dir>/upload-scratch/<random>/, 0700,
// since DCMTK's assembly reads files) and removed before the call returns, whatever happens; a crash
// meanwhile leaves them to the sweep at the next start (sweep_upload_scratch). Nothing of them
// is logged or kept: the volume holds voxels and geometry (its series UID is cleared).
// Thread-safe (each call has a folder of its own).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "similarity/volume.hpp"

namespace dm2::node {

// Errors (messages start with "dicom: "): malformed_input (not DICOM, truncated, mixed series,
// sizes or orientations, a gap, uneven spacing), unsupported (colour, JPEG 2000, odd bit depths),
// too_large (over max_voxels), invalid_argument (no files), io_error (the scratch folder).
result<similarity::volume> assemble_uploaded_series(const std::vector<std::string>& files,
                                                    const std::filesystem::path& data_dir, std::size_t max_voxels);

// Runs `fill(folder)` in a new private folder of the data directory's upload scratch (0700): it
// puts a series' DICOM files there and returns their paths; they are assembled (at most
// max_voxels) and the folder is removed however the call ends. Error messages start with `label`.
// The volume keeps voxels and geometry only (as assemble_uploaded_series).
result<similarity::volume> assemble_in_scratch(
    const std::filesystem::path& data_dir, std::size_t max_voxels, const std::string& label,
    const std::function<result<std::vector<std::filesystem::path>>(const std::filesystem::path& folder)>& fill);

// Removes what a crash left in the data directory's upload scratch (called at start).
void sweep_upload_scratch(const std::filesystem::path& data_dir);

}  // namespace dm2::node
