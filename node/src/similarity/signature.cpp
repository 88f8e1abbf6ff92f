#include "signature.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dm2::node {
namespace {

// Trilinear sample at continuous voxel coordinates (clamped to the volume).
float sample(const pacs::volume& v, double x, double y, double z) {
  auto axis = [](double c, std::size_t n, std::size_t& lo, std::size_t& hi, double& w) {
    c = std::clamp(c, 0.0, static_cast<double>(n - 1));
    lo = static_cast<std::size_t>(std::floor(c));
    hi = std::min(lo + 1, n - 1);
    w = c - static_cast<double>(lo);
  };
  std::size_t x0 = 0, x1 = 0, y0 = 0, y1 = 0, z0 = 0, z1 = 0;
  double wx = 0, wy = 0, wz = 0;
  axis(x, v.dims[0], x0, x1, wx);
  axis(y, v.dims[1], y0, y1, wy);
  axis(z, v.dims[2], z0, z1, wz);
  auto lerp = [](double a, double b, double w) { return a + (b - a) * w; };
  double c00 = lerp(v.at(x0, y0, z0), v.at(x1, y0, z0), wx), c10 = lerp(v.at(x0, y1, z0), v.at(x1, y1, z0), wx);
  double c01 = lerp(v.at(x0, y0, z1), v.at(x1, y0, z1), wx), c11 = lerp(v.at(x0, y1, z1), v.at(x1, y1, z1), wx);
  return static_cast<float>(lerp(lerp(c00, c10, wy), lerp(c01, c11, wy), wz));
}

}  // namespace

std::vector<float> signature_of(const pacs::volume& v) {
  if (v.dims[0] == 0 || v.dims[1] == 0 || v.dims[2] == 0 || v.voxels.size() != v.dims[0] * v.dims[1] * v.dims[2])
    return {};
  constexpr std::size_t g = signature_grid;
  std::vector<float> out;
  out.reserve(g * g * g);
  // Cell centres of a g^3 grid over the volume's extent.
  auto at = [](std::size_t i, std::size_t n) { return (static_cast<double>(i) + 0.5) * static_cast<double>(n) / g - 0.5; };
  for (std::size_t k = 0; k < g; ++k)
    for (std::size_t j = 0; j < g; ++j)
      for (std::size_t i = 0; i < g; ++i) out.push_back(sample(v, at(i, v.dims[0]), at(j, v.dims[1]), at(k, v.dims[2])));
  double mean = 0, var = 0;
  for (float s : out) mean += s;
  mean /= static_cast<double>(out.size());
  for (float s : out) var += (s - mean) * (s - mean);
  double sd = std::sqrt(var / static_cast<double>(out.size()));
  for (float& s : out) s = sd > 0 ? static_cast<float>((s - mean) / sd) : 0.0f;
  return out;
}

std::string encode_signature(const std::vector<float>& samples) {
  std::string out;
  out.reserve(samples.size() * 4);
  for (float s : samples) {
    std::uint32_t bits;
    std::memcpy(&bits, &s, 4);
    for (int b = 0; b < 4; ++b) out += static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

}  // namespace dm2::node
