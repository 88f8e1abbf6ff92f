// The fixed-grid resampler and the signature (node/src/similarity/resample.hpp, signature.hpp).
#include "similarity/resample.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "query_scoring.hpp"
#include "similarity/signature.hpp"

namespace dm2::similarity {
namespace {

// A volume of dims d whose voxel (i, j, k) sits at RAS `affine` * (i, j, k, 1), with value f(x, y,
// z).
template <class F>
volume sampled(std::array<std::size_t, 3> d, std::array<double, 16> affine, F f) {
  volume v;
  v.dims = d;
  v.affine_ras = affine;
  for (int a = 0; a < 3; ++a) v.spacing[a] = std::hypot(affine[a], affine[4 + a], affine[8 + a]);
  v.voxels.resize(d[0] * d[1] * d[2]);
  for (std::size_t k = 0; k < d[2]; ++k)
    for (std::size_t j = 0; j < d[1]; ++j)
      for (std::size_t i = 0; i < d[0]; ++i) {
        double p[3];
        for (int r = 0; r < 3; ++r)
          p[r] = affine[r * 4] * static_cast<double>(i) +
                 affine[r * 4 + 1] * static_cast<double>(j) +
                 affine[r * 4 + 2] * static_cast<double>(k) + affine[r * 4 + 3];
        v.voxels[(k * d[1] + j) * d[0] + i] = static_cast<float>(f(p[0], p[1], p[2]));
      }
  return v;
}

double linear(double x, double y, double z) { return 2 * x - 0.5 * y + 3 * z + 7; }

double blobs(double x, double y, double z) {
  return 100 * std::exp(-((x - 5) * (x - 5) + (y + 3) * (y + 3) + (z - 20) * (z - 20)) / 60) +
         0.3 * x;
}

// Anisotropic, axis-aligned, with an LPS-style flip of x and y (a DICOM series as RAS+).
const std::array<double, 16> axial = {-0.8, 0, 0, 30, 0, -0.8, 0, 20, 0, 0, 2.5, -10, 0, 0, 0, 1};

// The same voxels stored with the slice order reversed: the affine's k column negated and the
// origin moved to the last slice.
volume slices_reversed(const volume& v) {
  volume out = v;
  std::size_t plane = v.dims[0] * v.dims[1];
  for (std::size_t k = 0; k < v.dims[2]; ++k)
    std::copy_n(v.voxels.begin() + static_cast<std::ptrdiff_t>((v.dims[2] - 1 - k) * plane), plane,
                out.voxels.begin() + static_cast<std::ptrdiff_t>(k * plane));
  double last = static_cast<double>(v.dims[2] - 1);
  for (int r = 0; r < 3; ++r) {
    out.affine_ras[r * 4 + 3] += out.affine_ras[r * 4 + 2] * last;
    out.affine_ras[r * 4 + 2] = -out.affine_ras[r * 4 + 2];
  }
  return out;
}

TEST(resample, reproduces_a_linear_field_exactly_over_the_bounding_box) {
  auto v = sampled({20, 16, 9}, axial, linear);
  auto r = resample_to_grid(v, 12);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->dims, (std::array<std::size_t, 3>{12, 12, 12}));
  EXPECT_TRUE(r->series_uid.empty());
  // Box: x from 30 - 0.8*19 to 30, y from 20 - 0.8*15 to 20, z from -10 to -10 + 2.5*8.
  EXPECT_NEAR(r->affine_ras[3], 30 - 0.8 * 19, 1e-9);
  EXPECT_NEAR(r->affine_ras[0], 0.8 * 19 / 11, 1e-9);
  EXPECT_NEAR(r->affine_ras[11], -10, 1e-9);
  for (std::size_t k = 0; k < 12; ++k)
    for (std::size_t j = 0; j < 12; ++j)
      for (std::size_t i = 0; i < 12; ++i) {
        double x = r->affine_ras[3] + r->affine_ras[0] * static_cast<double>(i);
        double y = r->affine_ras[7] + r->affine_ras[5] * static_cast<double>(j);
        double z = r->affine_ras[11] + r->affine_ras[10] * static_cast<double>(k);
        ASSERT_NEAR(r->at(i, j, k), linear(x, y, z), 1e-3) << i << "," << j << "," << k;
      }
}

TEST(resample, an_oblique_volume_leaves_background_in_the_corners_of_its_box) {
  double c = std::cos(0.5), s = std::sin(0.5);
  std::array<double, 16> oblique = {c, -s, 0, 0, s, c, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  auto v = sampled({20, 20, 4}, oblique, [](double, double, double) { return 50.0; });
  v.voxels[0] = 10;  // the minimum: what the box's empty corners take
  auto r = resample_to_grid(v, 16);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at(15, 0, 0), 10.0f);  // a corner of the box outside the rotated square
  EXPECT_EQ(r->at(8, 8, 2), 50.0f);   // the middle
}

TEST(resample, normalisations) {
  auto v = sampled({10, 10, 10}, axial, blobs);
  auto z = normalised_volume(v, {16, intensity_normalisation::z_score});
  ASSERT_TRUE(z.ok());
  double mean = 0, var = 0;
  for (float x : z->voxels) mean += x;
  mean /= static_cast<double>(z->voxels.size());
  for (float x : z->voxels) var += (x - mean) * (x - mean);
  EXPECT_NEAR(mean, 0, 1e-5);
  EXPECT_NEAR(var / static_cast<double>(z->voxels.size()), 1, 1e-4);
  auto p = normalised_volume(v, {16, intensity_normalisation::percentile});
  ASSERT_TRUE(p.ok());
  auto [lo, hi] = std::minmax_element(p->voxels.begin(), p->voxels.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
}

TEST(resample, refuses_bad_volumes_and_grids) {
  auto v = sampled({4, 4, 4}, axial, linear);
  EXPECT_EQ(resample_to_grid(v, 1).err().code, errc::invalid_argument);
  EXPECT_EQ(resample_to_grid(v, 257).err().code, errc::invalid_argument);
  auto singular = v;
  singular.affine_ras[10] = 0;
  EXPECT_EQ(resample_to_grid(singular, 8).err().code, errc::malformed_input);
  auto short_one = v;
  short_one.voxels.pop_back();
  EXPECT_EQ(resample_to_grid(short_one, 8).err().code, errc::malformed_input);
  auto zero = v;
  zero.dims[1] = 0;
  EXPECT_EQ(resample_to_grid(zero, 8).err().code, errc::malformed_input);
  auto inf = v;
  inf.voxels[3] = INFINITY;
  EXPECT_EQ(signature_of(inf).err().code, errc::malformed_input);
}

TEST(signature, is_512_z_scored_floats_that_fit_a_record) {
  auto sig = signature_of(sampled({40, 32, 18}, axial, blobs));
  ASSERT_TRUE(sig.ok()) << sig.err().to_string();
  ASSERT_EQ(sig->size(), signature_size);
  double mean = 0, var = 0;
  for (float x : *sig) {
    ASSERT_TRUE(std::isfinite(x));
    mean += x;
  }
  mean /= 512;
  for (float x : *sig) var += (x - mean) * (x - mean);
  EXPECT_NEAR(mean, 0, 1e-5);
  EXPECT_NEAR(var / 512, 1, 1e-4);
  auto bytes = signature_bytes(*sig);
  EXPECT_EQ(bytes.size(), signature_bytes_size);
  EXPECT_EQ(node::signature_samples(bytes), *sig);  // what stage 1 reads back
}

TEST(signature, does_not_depend_on_storage_order_and_tells_volumes_apart) {
  auto v = sampled({40, 32, 18}, axial, blobs);
  auto a = signature_of(v), b = signature_of(slices_reversed(v));
  ASSERT_TRUE(a.ok() && b.ok());
  for (std::size_t i = 0; i < a->size(); ++i) ASSERT_NEAR((*a)[i], (*b)[i], 1e-4) << i;
  EXPECT_NEAR(*node::ncc(*a, *b), 1.0, 1e-6);
  auto other = signature_of(
      sampled({40, 32, 18}, axial, [](double x, double y, double z) { return blobs(-x, z, y); }));
  ASSERT_TRUE(other.ok());
  EXPECT_LT(*node::ncc(*a, *other), 0.9);
}

TEST(signature, of_a_flat_volume_is_all_zeros) {
  auto sig = signature_of(sampled({8, 8, 8}, axial, [](double, double, double) { return 42.0; }));
  ASSERT_TRUE(sig.ok());
  for (float x : *sig) EXPECT_EQ(x, 0.0f);
}

}  // namespace
}  // namespace dm2::similarity
