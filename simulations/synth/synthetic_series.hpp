// Synthetic DICOM series written with DCMTK at run time (nothing big is committed), shared by the
// tests, benchmarks and dm2-synth (the demo's PACS content). Geometry is realistic (IOP, IPP,
// PixelSpacing, SliceThickness, FrameOfReferenceUID) and every file carries the nominative
// attributes de-identification must remove. Anatomy-like content: phantom.hpp.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dm2::test {

struct synthetic_options {
  unsigned slices = 8;
  unsigned rows = 64;
  unsigned columns = 64;
  std::string modality = "CT";  // CT, MR, CR, DX, MG, US or XA (the SOP class follows)
  std::string sop_class;        // "" = the modality's image storage class; else this UID
  std::array<double, 2> pixel_spacing = {0.7, 0.8};        // row spacing, column spacing (mm)
  double slice_spacing = 1.25;                             // along the normal (mm)
  std::array<double, 6> orientation = {1, 0, 0, 0, 1, 0};  // ImageOrientationPatient
  std::array<double, 3> origin = {-120.0, -110.0, -50.0};  // IPP of the first slice
  std::string patient_name = "DOE^JANE";
  std::string patient_id = "PID-0042";
  std::string study_uid;   // generated when empty
  std::string series_uid;  // generated when empty
  std::string study_date = "20240315";
  std::string transfer_syntax;  // "" = explicit VR little endian; or a DCMTK UID
  // Stored values (12 bits used); empty = synthetic_value. Called once per voxel, in order.
  std::function<std::uint16_t(unsigned i, unsigned j, unsigned k)> voxels;
  double rescale_intercept = -1024;  // modality value = stored value + intercept
  std::array<double, 2> window = {40, 400};  // WindowCenter, WindowWidth
  // Nominative and descriptive attributes (the defaults are the tests' canaries).
  std::string birth_date = "19700101";
  std::string sex = "F";
  std::string age = "054Y";
  std::string institution = "Hopital Test";
  std::string referring_physician = "HOUSE^GREGORY";
  std::string accession = "ACC7781";
  std::string study_description = "THORAX SYNTHETIC";
  std::string series_description = "AXIAL 1.25";
  std::string body_part;  // BodyPartExamined, written when not empty
  unsigned series_number = 3;
};

struct synthetic_series {
  std::vector<std::filesystem::path> files;  // in slice order (k = 0..n-1)
  std::vector<std::string> sop_uids;         // same order
  std::string study_uid;
  std::string series_uid;
  std::string frame_of_reference_uid;
};

// The stored value of voxel (i = column, j = row, k = slice): unsigned 12-bit pattern that
// makes every slice distinguishable; the modality value is stored_value - 1024 (intercept).
std::uint16_t synthetic_value(unsigned i, unsigned j, unsigned k);

// The image storage SOP class UID of a modality above. Throws std::runtime_error otherwise.
std::string storage_class_of(const std::string& modality);

// Writes one file per slice into `dir` (files named by a hash, not by order).
// Throws std::runtime_error on failure (test and tool code only).
synthetic_series write_synthetic_series(const std::filesystem::path& dir,
                                        const synthetic_options& options);

// Writes to `out` one more slice after the last of `files` (a series in slice order, >= 2 files):
// the same image one slice further, a new SOP instance. Uploaded to a PACS, the series has gained
// an instance (a late image). Throws std::runtime_error on failure.
void write_next_slice(const std::vector<std::filesystem::path>& files, const std::filesystem::path& out);

}  // namespace dm2::test
