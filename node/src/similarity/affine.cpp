#include "affine.hpp"

#include <cmath>

namespace dm2::similarity::detail {

std::optional<affine4> invert(const affine4& m) {
  auto a = [&](int r, int c) { return m[r * 4 + c]; };
  // Cofactors of the 3x3 linear part.
  double c00 = a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1), c01 = a(1, 2) * a(2, 0) - a(1, 0) * a(2, 2),
         c02 = a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0);
  double det = a(0, 0) * c00 + a(0, 1) * c01 + a(0, 2) * c02;
  if (!std::isfinite(det) || std::abs(det) < 1e-12) return std::nullopt;
  double inv[3][3] = {{c00 / det, (a(0, 2) * a(2, 1) - a(0, 1) * a(2, 2)) / det,
                       (a(0, 1) * a(1, 2) - a(0, 2) * a(1, 1)) / det},
                      {c01 / det, (a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0)) / det,
                       (a(0, 2) * a(1, 0) - a(0, 0) * a(1, 2)) / det},
                      {c02 / det, (a(0, 1) * a(2, 0) - a(0, 0) * a(2, 1)) / det,
                       (a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0)) / det}};
  affine4 out{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out[r * 4 + c] = inv[r][c];
    out[r * 4 + 3] = -(inv[r][0] * a(0, 3) + inv[r][1] * a(1, 3) + inv[r][2] * a(2, 3));
  }
  out[15] = 1;
  for (double x : out)
    if (!std::isfinite(x)) return std::nullopt;
  return out;
}

}  // namespace dm2::similarity::detail
