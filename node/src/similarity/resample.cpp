#include "resample.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "affine.hpp"

namespace dm2::similarity {
namespace {

using detail::vec3;

// Trilinear interpolation at continuous voxel index p; nullopt outside the voxel-centre grid (a
// hair of tolerance so corner points, which are on it, are inside).
std::optional<float> trilinear(const volume& v, const vec3& p) {
  constexpr double tolerance = 1e-6;
  std::size_t lo[3], hi[3];
  double t[3];
  for (int a = 0; a < 3; ++a) {
    double last = static_cast<double>(v.dims[a] - 1);
    if (p[a] < -tolerance || p[a] > last + tolerance) return std::nullopt;
    double x = std::clamp(p[a], 0.0, last);
    lo[a] = static_cast<std::size_t>(std::floor(x));
    hi[a] = std::min(lo[a] + 1, v.dims[a] - 1);
    t[a] = x - static_cast<double>(lo[a]);
  }
  auto at = [&](std::size_t i, std::size_t j, std::size_t k) {
    return static_cast<double>(v.at(i, j, k));
  };
  double c00 = at(lo[0], lo[1], lo[2]) * (1 - t[0]) + at(hi[0], lo[1], lo[2]) * t[0];
  double c10 = at(lo[0], hi[1], lo[2]) * (1 - t[0]) + at(hi[0], hi[1], lo[2]) * t[0];
  double c01 = at(lo[0], lo[1], hi[2]) * (1 - t[0]) + at(hi[0], lo[1], hi[2]) * t[0];
  double c11 = at(lo[0], hi[1], hi[2]) * (1 - t[0]) + at(hi[0], hi[1], hi[2]) * t[0];
  double c0 = c00 * (1 - t[1]) + c10 * t[1];
  double c1 = c01 * (1 - t[1]) + c11 * t[1];
  return static_cast<float>(c0 * (1 - t[2]) + c1 * t[2]);
}

void z_score(std::vector<float>& x) {
  double mean = 0, var = 0;
  for (float f : x) mean += f;
  mean /= static_cast<double>(x.size());
  for (float f : x) var += (f - mean) * (f - mean);
  double sd = std::sqrt(var / static_cast<double>(x.size()));
  for (float& f : x) f = sd > 0 ? static_cast<float>((f - mean) / sd) : 0.0f;
}

void percentile_clip(std::vector<float>& x) {
  std::vector<float> sorted = x;
  auto rank = [&](double q) {
    auto k = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
    return static_cast<double>(sorted[k]);
  };
  double lo = rank(0.01), hi = rank(0.99);
  for (float& f : x)
    f = hi > lo ? static_cast<float>((std::clamp<double>(f, lo, hi) - lo) / (hi - lo)) : 0.0f;
}

}  // namespace

result<volume> resample_to_grid(const volume& v, std::size_t grid) {
  if (grid < 2 || grid > 256)
    return fail(errc::invalid_argument, "resampling grid must be 2 to 256 samples per axis");
  if (auto s = check_volume(v, true); !s) return std::move(s).err();
  auto to_voxel = *detail::invert(v.affine_ras);

  // The RAS+ bounding box of the voxel centres: the images of the 8 corner voxels.
  vec3 lo{}, hi{};
  lo.fill(std::numeric_limits<double>::infinity());
  hi.fill(-std::numeric_limits<double>::infinity());
  for (int corner = 0; corner < 8; ++corner) {
    vec3 idx{};
    for (int a = 0; a < 3; ++a)
      idx[a] = (corner >> a & 1) ? static_cast<double>(v.dims[a] - 1) : 0.0;
    vec3 p = detail::apply(v.affine_ras, idx);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], p[a]);
      hi[a] = std::max(hi[a], p[a]);
    }
  }
  const float background = *std::min_element(v.voxels.begin(), v.voxels.end());
  volume out;
  out.dims = {grid, grid, grid};
  out.affine_ras = {};
  out.affine_ras[15] = 1;
  vec3 step{};
  for (int a = 0; a < 3; ++a) {
    step[a] = (hi[a] - lo[a]) / static_cast<double>(grid - 1);
    // A flat axis (one slice seen edge-on) keeps a nominal 1 mm so the affine stays invertible;
    // all its samples lie on the one plane.
    out.spacing[a] = step[a] > 0 ? step[a] : 1.0;
    out.affine_ras[a * 4 + a] = out.spacing[a];
    out.affine_ras[a * 4 + 3] = lo[a];
  }
  out.voxels.resize(grid * grid * grid);
  std::size_t n = 0;
  for (std::size_t k = 0; k < grid; ++k)
    for (std::size_t j = 0; j < grid; ++j)
      for (std::size_t i = 0; i < grid; ++i) {
        vec3 p{lo[0] + step[0] * static_cast<double>(i), lo[1] + step[1] * static_cast<double>(j),
               lo[2] + step[2] * static_cast<double>(k)};
        out.voxels[n++] = trilinear(v, detail::apply(to_voxel, p)).value_or(background);
      }
  return out;
}

void normalise_intensity(volume& v, intensity_normalisation how) {
  if (v.voxels.empty()) return;
  if (how == intensity_normalisation::z_score)
    z_score(v.voxels);
  else
    percentile_clip(v.voxels);
}

result<volume> normalised_volume(const volume& v, const resample_options& options) {
  auto out = resample_to_grid(v, options.grid);
  if (!out) return out;
  normalise_intensity(*out, options.normalisation);
  return out;
}

}  // namespace dm2::similarity
