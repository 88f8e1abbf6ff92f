// Anatomy-like synthetic series for the demo's PACS, tests and benchmarks: a seeded patient model
// (body, subcutaneous fat, lungs, heart with left and right ventricles, myocardium and blood
// pools, aorta, spine, ribs, sternum, liver) sampled on a realistic DICOM grid and written with
// write_synthetic_series. Two studies: a heart MR short-axis stack (the stack's normal is the left
// ventricle's long axis, bSSFP-like intensities) and an axial chest CT (Hounsfield units, contrast
// in the blood pools). Not a physical simulation: shapes and intensities that look like anatomy to
// a similarity measure, different for every patient (sizes, positions, wall thickness, pathology).
//
// A near-duplicate (variant != 0) is the same patient's anatomy under a small smooth deformation
// (a few millimetres), a small intensity change and fresh noise, with new UIDs: the same person
// scanned again, e.g. at another hospital.
//
// Pure functions of their options (deterministic for a seed and variant) except the UIDs, which
// are fresh per call. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "synthetic_series.hpp"

namespace dm2::synth {

enum class study_kind { heart_mr, chest_ct };

// "heart-mr" / "chest-ct"; parse_study_kind returns nullopt for anything else.
std::string to_string(study_kind kind);
std::optional<study_kind> parse_study_kind(const std::string& text);

// Who the series belongs to, as written in every file (nominative: what de-identification removes).
struct patient_identity {
  std::string name;  // DICOM PN, FAMILY^GIVEN
  std::string id;
  std::string birth_date;  // YYYYMMDD
  std::string sex;         // M or F
  std::string institution;
  std::string referring_physician;
  std::string accession;  // "" = one drawn per study
};

// A plausible, fake identity drawn from the seed (names from fixed lists).
patient_identity identity_of(std::uint64_t seed);

// The patient's anatomy, drawn from the seed (millimetres, DICOM patient coordinates LPS+).
struct anatomy {
  std::array<double, 2> body_axes{};     // half-width (x) and half-depth (y) of the trunk
  std::array<double, 2> body_center{};   // x, y of the trunk's axis
  double fat = 0;                        // subcutaneous fat thickness
  std::array<double, 3> heart_center{};  // centre of the left ventricle
  std::array<double, 3> long_axis{};     // unit vector, base towards apex
  double lv_radius = 0;                  // endocardial short-axis radius
  double lv_half_length = 0;             // endocardial half length along the long axis
  double wall = 0;                       // left-ventricular wall thickness
  std::array<double, 3> lung_axes{};     // semi-axes of each lung
  double lung_offset = 0;                // |x| of each lung's centre from the body axis
  double spine_y = 0;                    // y of the vertebral bodies' centre
  bool hypertrophy = false;              // thickened left-ventricular wall
  double pericardial_effusion = 0;       // fluid shell around the heart (0 = none)
  double pleural_effusion = 0;           // fluid depth in the dependent right lung (0 = none)
};

anatomy anatomy_of(std::uint64_t seed);

struct phantom_options {
  study_kind kind = study_kind::heart_mr;
  std::uint64_t seed = 1;     // the patient: anatomy, pathology, identity
  std::uint64_t variant = 0;  // 0 = the original; otherwise a near-duplicate (see above)
  unsigned slices = 0;        // 0 = the study's default (MR 24, CT 48)
  unsigned size = 128;        // rows = columns (128 or 256 are typical)
  std::string study_date;     // "" = drawn from seed and variant
  std::optional<patient_identity> identity;  // nullopt = identity_of(seed)
};

// The sampled grid: what write_phantom_series writes, before DICOM.
struct phantom_volume {
  test::synthetic_options dicom;      // geometry, attributes; `voxels` unset
  std::vector<std::uint16_t> stored;  // stored values, i fastest, then j, then k
};

// Samples the patient on the study's grid. Throws std::invalid_argument for slices or size out
// of 1..1024.
phantom_volume sample_phantom(const phantom_options& options);

// Samples and writes one DICOM file per slice into `dir`. Throws std::runtime_error (DCMTK) or
// std::invalid_argument (options).
test::synthetic_series write_phantom_series(const std::filesystem::path& dir, const phantom_options& options);

}  // namespace dm2::synth
