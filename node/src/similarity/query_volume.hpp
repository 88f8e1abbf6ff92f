// The query volume of stage 2 (docs/similarity.md, "Stages"): a series resampled to a 32^3 grid
// over its RAS+ bounding box and z-scored (resample.hpp), sent by the home site to the owners of
// the best stage-1 candidates, which resample their own volumes to the same grid and compute a
// registered measure. 32^3 float32 = 128 KiB: enough samples for a 32 x 32 bin joint histogram
// (32 per cell on average) at an eighth of 64^3's bytes and CPU per candidate. Geometry and voxels
// only: nothing nominative. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "volume.hpp"

namespace dm2::similarity {

inline constexpr std::size_t query_grid = 32;
inline constexpr std::size_t query_volume_bytes = query_grid * query_grid * query_grid * 4;

// normalised_volume(v, {query_grid, z_score}). Errors: those of normalised_volume.
result<volume> query_volume(const volume& v);

// Little-endian float32 samples, i fastest (what travels to the owners).
std::string query_volume_wire(const volume& q);
// Back from the wire. Errors: invalid_argument (not exactly query_volume_bytes, a non-finite
// sample).
result<volume> query_volume_from_wire(std::string_view bytes);

}  // namespace dm2::similarity
