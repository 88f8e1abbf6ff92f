// The normalised volume: any volume in patient space resampled to a fixed n x n x n grid over its
// bounding box, then intensity-normalised. What a query sends to the sites that compute a measure
// (issue 11, stage 2) and what a record's signature is pooled from. docs/similarity.md.
#pragma once

#include <cstddef>

#include "volume.hpp"

namespace dm2::similarity {

enum class intensity_normalisation {
  z_score,     // (v - mean) / standard deviation; a flat volume becomes all zeros
  percentile,  // clipped to its 1st..99th percentile, then scaled to [0, 1]
};

struct resample_options {
  std::size_t grid = 64;  // samples along each axis (2..256)
  intensity_normalisation normalisation = intensity_normalisation::z_score;
};

// Resamples `v` to options.grid^3 points spanning the axis-aligned RAS+ bounding box of its voxel
// centres (corners included), by trilinear interpolation; a point outside the volume (an oblique
// volume does not fill its box) takes the volume's minimum (air, background). The result's axes
// are RAS+ (i -> Right, j -> Anterior, k -> Superior), so the order a series was stored in does
// not matter; its affine maps the new grid to the same millimetres. Only geometry and voxels are
// kept: the series UID and file names (nominative) are not copied. Then normalises the
// intensities. An anisotropic box is stretched to the cube: the grid describes shape, not size.
// Errors: malformed_input (check_volume, with the affine), invalid_argument (grid out of range).
// Pure; thread-safe. Costs two passes over the source and grid^3 trilinear samples (about 65 ms
// of CPU for a 512x512x200 series at 64^3 on the loaded dev machine).
result<volume> normalised_volume(const volume& v, const resample_options& options = {});

// Only the grid step of normalised_volume (no intensity change). Same errors.
result<volume> resample_to_grid(const volume& v, std::size_t grid);

// Only the intensity step, in place. Pure; thread-safe for distinct volumes.
void normalise_intensity(volume& v, intensity_normalisation how);

}  // namespace dm2::similarity
