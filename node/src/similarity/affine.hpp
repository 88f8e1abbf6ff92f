// Private: the 3-D part of a row-major 4x4 voxel -> patient affine.
#pragma once

#include <array>
#include <optional>

namespace dm2::similarity::detail {

using vec3 = std::array<double, 3>;
using affine4 = std::array<double, 16>;  // row-major, last row 0 0 0 1

inline vec3 apply(const affine4& m, const vec3& p) {
  vec3 out{};
  for (int r = 0; r < 3; ++r)
    out[r] = m[r * 4] * p[0] + m[r * 4 + 1] * p[1] + m[r * 4 + 2] * p[2] + m[r * 4 + 3];
  return out;
}

// The inverse (patient -> voxel); nullopt when the 3x3 part is singular or not finite.
std::optional<affine4> invert(const affine4& m);

}  // namespace dm2::similarity::detail
