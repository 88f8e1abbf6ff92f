// Series assembly: DICOM files of one series -> a 3-D volume with its geometry.
//
// Coordinates: `affine_ras` maps voxel indices (i, j, k, 1) to millimetres in RAS+, NIfTI's
// convention (x grows towards the patient's Right, y Anterior, z Superior). DICOM's patient
// coordinates are LPS+ (x to the Left, y Posterior); the two differ by the sign of x and y.
// affine_lps() gives the DICOM form.
// Voxel order: i = column (fastest), j = row, k = slice, the order DICOM stores pixels in, so
// i runs along ImageOrientationPatient's first (row) vector and j along its second.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::pacs {

struct volume {
  std::array<std::size_t, 3> dims{};      // columns, rows, slices
  std::array<double, 3> spacing{};        // mm along i, j, k
  std::array<double, 16> affine_ras{};    // row-major 4x4, voxel -> RAS+ mm
  std::vector<float> voxels;              // modality values (rescale slope/intercept applied)
  std::string series_uid;
  std::vector<std::string> files;         // source files in slice order (a multi-frame file once)
  std::vector<std::string> notes;         // non-fatal findings (e.g. "sorted by InstanceNumber")

  float at(std::size_t i, std::size_t j, std::size_t k) const {
    return voxels[(k * dims[1] + j) * dims[0] + i];
  }
  // The same affine in DICOM's LPS+ patient coordinates.
  std::array<double, 16> affine_lps() const;
};

struct assembly_options {
  // Largest relative deviation of one slice step from the median step that is still "even".
  double spacing_tolerance = 0.05;
  // Largest difference between two slices' direction cosines that is still "the same".
  double orientation_tolerance = 1e-4;
  // Refuse more voxels than this (guards memory against hostile headers): 2^30.
  std::size_t max_voxels = std::size_t{1} << 30;
};

// Assembles the files (any order) into one volume: slices are sorted by their position along
// the slice normal (row x column direction cosines, dotted with ImagePositionPatient), falling
// back to InstanceNumber when no file has geometry. Multi-frame objects contribute one slice per
// frame (per-frame functional groups, or GridFrameOffsetVector / SpacingBetweenSlices).
// Pixel data is decoded with DCMTK's codecs (JPEG, JPEG-LS, RLE, deflate; not JPEG 2000).
// Errors:
//   malformed_input  not DICOM, truncated, missing Rows/Columns/pixel data, more than one
//                    SeriesInstanceUID, mixed orientation / size / pixel spacing, duplicate slice
//                    positions, a gap (missing slice: the message says where), uneven spacing
//   unsupported      colour images, JPEG 2000, bits allocated other than 8/16/32
//   too_large        more than options.max_voxels voxels
//   invalid_argument no files
// Thread-safe (no shared state besides DCMTK's codec registry, registered once).
result<volume> assemble_series(const std::vector<std::filesystem::path>& files,
                               const assembly_options& options = {});

// An instance held in memory: the name errors and volume::files call it by, its Part 10 bytes.
struct dicom_in_memory {
  std::string name;
  std::string_view part10;
};

// The same over instances held in memory (e.g. received into memory: fetch_options::received).
result<volume> assemble_series_in_memory(const std::vector<dicom_in_memory>& instances, const assembly_options& options = {});

// Writes the volume as NIfTI-1 (.nii, float32, sform and qform = affine_ras, units mm) with the
// nifti library; atomic (temporary file then rename). Errors: invalid_argument (empty volume,
// path not ending in .nii), io_error. Thread-safe (serialised: the library is not).
status write_nifti(const volume& v, const std::filesystem::path& path);

// The same NIfTI-1 file held in memory, without copying the voxels: `header` (the 348-byte
// header and the 4-byte extension flag, no extensions) followed by voxel_bytes(v) is
// write_nifti's file byte for byte, so it can be sealed straight from memory (no plaintext
// volume on disk). Errors: invalid_argument (empty volume, a dimension beyond NIfTI-1).
// Thread-safe (serialised like write_nifti).
result<std::string> nifti_header(const volume& v);
// The volume's voxels as the NIfTI file's data bytes (float32, the machine's byte order, as
// write_nifti writes them); valid while `v` is unchanged.
std::string_view voxel_bytes(const volume& v);

}  // namespace dm2::pacs
