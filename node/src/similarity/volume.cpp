#include "volume.hpp"

#include <cmath>
#include <string>

#include "affine.hpp"

namespace dm2::similarity {

status check_volume(const volume& v, bool need_affine) {
  constexpr std::size_t max_voxels = std::size_t{1} << 30;
  std::size_t n = 1;
  for (std::size_t d : v.dims) {
    if (d == 0) return fail(errc::malformed_input, "volume has a zero dimension");
    if (d > max_voxels / n) return fail(errc::malformed_input, "volume has more than 2^30 voxels");
    n *= d;
  }
  if (v.voxels.size() != n)
    return fail(errc::malformed_input, "volume has " + std::to_string(v.voxels.size()) +
                                           " voxels where its dimensions say " + std::to_string(n));
  for (float x : v.voxels)
    if (!std::isfinite(x)) return fail(errc::malformed_input, "volume has a non-finite voxel");
  if (need_affine && !detail::invert(v.affine_ras))
    return fail(errc::malformed_input, "volume's voxel-to-patient affine is not invertible");
  return {};
}

}  // namespace dm2::similarity
