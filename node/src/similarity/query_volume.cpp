#include "query_volume.hpp"

#include <cmath>

#include "resample.hpp"
#include "signature.hpp"

namespace dm2::similarity {

result<volume> query_volume(const volume& v) {
  return normalised_volume(v, {query_grid, intensity_normalisation::z_score});
}

std::string query_volume_wire(const volume& q) { return signature_bytes(q.voxels); }

result<volume> query_volume_from_wire(std::string_view bytes) {
  if (bytes.size() != query_volume_bytes)
    return fail(errc::invalid_argument, "the query volume must be " + std::to_string(query_grid) + "^3 float32 samples (" +
                                            std::to_string(query_volume_bytes) + " bytes)");
  volume q;
  q.dims = {query_grid, query_grid, query_grid};
  q.spacing = {1, 1, 1};
  q.affine_ras = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  q.voxels = *float_samples(bytes);  // a whole number of samples: checked above
  for (float x : q.voxels)
    if (!std::isfinite(x)) return fail(errc::invalid_argument, "the query volume has a non-finite sample");
  return q;
}

}  // namespace dm2::similarity
