// The similarity signature of a series (docs/ingest.md, "Signature"): the assembled volume
// resampled (trilinear) onto a fixed 8 x 8 x 8 grid spanning its extent, then normalised to zero
// mean and unit variance. 512 float32 = 2 KiB, far under the record payload limit; invariant to
// the scanner's intensity scale and offset and to the series' resolution, so NCC between two
// signatures compares anatomy and contrast, not acquisition settings.
// Minimal version written by the ingest; perf-sim's patient-space descriptor replaces it.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "dm2/pacs/volume.hpp"

namespace dm2::node {

inline constexpr std::size_t signature_grid = 8;  // samples per axis

// Empty when the volume is empty.
std::vector<float> signature_of(const pacs::volume& v);
// Little-endian IEEE-754 float32 samples, as index records and queries carry them.
std::string encode_signature(const std::vector<float>& samples);

}  // namespace dm2::node
