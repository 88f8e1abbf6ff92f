// The image the similarity code works on: pacs' assembled volume (float32 voxels, dims, spacing,
// voxel -> RAS+ mm affine; pacs/include/dm2/pacs/volume.hpp). docs/similarity.md.
#pragma once

#include "dm2/pacs/volume.hpp"
#include "dm2/result.hpp"

namespace dm2::similarity {

using volume = pacs::volume;

// A volume the measures and the resampler accept: every dimension >= 1, as many voxels as
// dims say (at most 2^30), every voxel finite, an invertible affine (when `need_affine`).
// Errors: malformed_input (the reason in the message). Pure; thread-safe.
status check_volume(const volume& v, bool need_affine = false);

}  // namespace dm2::similarity
