// The anatomy-like synthetic series (simulations/synth/phantom.*) as the pacs module sees them:
// they assemble into volumes with the geometry they were written with, hold the tissue classes of
// their study (not noise, not a flat pattern), differ from patient to patient, carry the
// nominative attributes de-identification removes, and a near-duplicate is closer to its original
// than to another patient's series.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/volume.hpp"
#include "phantom.hpp"
#include "support/temp_dir.hpp"

namespace {

using dm2::synth::study_kind;

struct phantom_test : ::testing::Test {
  dm2::test::temp_dir dir{"dm2-phantom"};
  int written = 0;

  dm2::pacs::volume assembled(study_kind kind, std::uint64_t seed, std::uint64_t variant = 0, unsigned slices = 0) {
    auto out = dir / ("s" + std::to_string(written++));
    std::filesystem::create_directories(out);
    dm2::synth::phantom_options o;
    o.kind = kind;
    o.seed = seed;
    o.variant = variant;
    o.slices = slices;
    auto series = dm2::synth::write_phantom_series(out, o);
    auto v = dm2::pacs::assemble_series(series.files);
    EXPECT_TRUE(v) << v.err().to_string();
    return v ? std::move(*v) : dm2::pacs::volume{};
  }
};

double fraction(const dm2::pacs::volume& v, const std::function<bool(float)>& in_class) {
  std::size_t n = 0;
  for (float x : v.voxels) n += in_class(x) ? 1 : 0;
  return v.voxels.empty() ? 0 : static_cast<double>(n) / static_cast<double>(v.voxels.size());
}

double ncc(const dm2::pacs::volume& a, const dm2::pacs::volume& b) {
  if (a.voxels.size() != b.voxels.size() || a.voxels.empty()) return -2;
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.voxels.size(); ++i) ma += a.voxels[i], mb += b.voxels[i];
  ma /= static_cast<double>(a.voxels.size());
  mb /= static_cast<double>(b.voxels.size());
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.voxels.size(); ++i) {
    double x = a.voxels[i] - ma, y = b.voxels[i] - mb;
    ab += x * y, aa += x * x, bb += y * y;
  }
  return ab / std::sqrt(aa * bb);
}

TEST_F(phantom_test, heart_mr_is_an_oblique_short_axis_stack_with_bright_blood_and_a_myocardium) {
  auto v = assembled(study_kind::heart_mr, 11);
  ASSERT_EQ(v.dims, (std::array<std::size_t, 3>{128, 128, 24}));
  EXPECT_NEAR(v.spacing[0], 300.0 / 128, 1e-4);
  EXPECT_NEAR(v.spacing[1], 300.0 / 128, 1e-4);
  EXPECT_NEAR(v.spacing[2], 5.0, 1e-4);
  // The slice direction (third column of the LPS affine) is the left ventricle's long axis.
  auto lps = v.affine_lps();
  auto axis = dm2::synth::anatomy_of(11).long_axis;
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(lps[r * 4 + 2] / v.spacing[2], axis[r], 1e-3) << r;
  EXPECT_LT(std::abs(axis[2]), 0.95);  // oblique: not an axial stack
  EXPECT_GT(fraction(v, [](float x) { return x < 80; }), 0.10);                // air and lung
  EXPECT_GT(fraction(v, [](float x) { return x > 650; }), 0.02);               // blood, fat, fluid
  EXPECT_GT(fraction(v, [](float x) { return x > 150 && x < 270; }), 0.05);    // muscle, myocardium
  // Blood at the centre of the left ventricle (the stack's centre is 10 mm apexwards of it).
  double centre = 0;
  for (std::size_t k = 10; k < 12; ++k)
    for (std::size_t j = 62; j < 66; ++j)
      for (std::size_t i = 62; i < 66; ++i) centre += v.at(i, j, k) / 32;
  EXPECT_GT(centre, 600);
}

TEST_F(phantom_test, chest_ct_holds_air_lung_fat_soft_tissue_contrast_and_bone_in_hounsfield_units) {
  auto v = assembled(study_kind::chest_ct, 12, 0, 40);
  ASSERT_EQ(v.dims, (std::array<std::size_t, 3>{128, 128, 40}));
  EXPECT_NEAR(v.spacing[0], 400.0 / 128, 1e-4);
  EXPECT_NEAR(v.spacing[2], 6.0, 1e-4);
  auto lps = v.affine_lps();
  EXPECT_NEAR(lps[0 * 4 + 0], v.spacing[0], 1e-6);  // axial: i along x, j along y, k along z
  EXPECT_NEAR(lps[1 * 4 + 1], v.spacing[1], 1e-6);
  EXPECT_NEAR(lps[2 * 4 + 2], v.spacing[2], 1e-6);
  EXPECT_GT(fraction(v, [](float x) { return x < -950; }), 0.10);                 // air
  EXPECT_GT(fraction(v, [](float x) { return x > -950 && x < -700; }), 0.04);     // lung
  EXPECT_GT(fraction(v, [](float x) { return x > -150 && x < -50; }), 0.02);      // fat
  EXPECT_GT(fraction(v, [](float x) { return x > 0 && x < 120; }), 0.05);         // soft tissue
  EXPECT_GT(fraction(v, [](float x) { return x > 200 && x < 450; }), 0.003);      // contrast
  EXPECT_GT(fraction(v, [](float x) { return x > 500; }), 0.002);                 // cortical bone
  // Slices differ along z (the heart, the lungs' apices and the liver come and go).
  auto slice_mean = [&](std::size_t k) {
    double s = 0;
    for (std::size_t j = 0; j < v.dims[1]; ++j)
      for (std::size_t i = 0; i < v.dims[0]; ++i) s += v.at(i, j, k);
    return s / static_cast<double>(v.dims[0] * v.dims[1]);
  };
  EXPECT_GT(std::abs(slice_mean(2) - slice_mean(20)), 20);
}

TEST_F(phantom_test, patients_differ_and_a_near_duplicate_is_closer_to_its_original_than_to_another_patient) {
  for (auto kind : {study_kind::heart_mr, study_kind::chest_ct}) {
    auto original = assembled(kind, 21);
    auto near_duplicate = assembled(kind, 21, 1);
    auto other = assembled(kind, 22);
    double to_duplicate = ncc(original, near_duplicate);
    double to_other = ncc(original, other);
    EXPECT_GT(to_duplicate, 0.85) << dm2::synth::to_string(kind);
    EXPECT_LT(to_duplicate, 0.999) << "a near-duplicate is not a copy";
    EXPECT_GT(to_duplicate, to_other + 0.1) << dm2::synth::to_string(kind) << " other " << to_other;
  }
  auto a = dm2::synth::anatomy_of(21), b = dm2::synth::anatomy_of(22);
  EXPECT_NE(a.body_axes, b.body_axes);
  EXPECT_NE(a.wall, b.wall);
}

TEST_F(phantom_test, every_file_carries_the_nominative_attributes_de_identification_removes) {
  dm2::synth::phantom_options o;
  o.kind = study_kind::chest_ct;
  o.seed = 5;
  o.slices = 3;
  o.size = 32;
  auto series = dm2::synth::write_phantom_series(dir.path(), o);
  auto who = dm2::synth::identity_of(5);
  dm2::pacs::deid_options deid;
  deid.uid_secret = "phantom-test-secret-0123456789";
  for (const auto& f : series.files) {
    std::string bytes;
    auto r = dm2::pacs::deidentify_to_memory(f, deid, bytes);
    ASSERT_TRUE(r) << r.err().to_string();
    for (const auto& value : {who.name, who.id, who.birth_date, who.institution, who.referring_physician}) {
      EXPECT_NE(r->nominative_json.find(value), std::string::npos) << value;
      EXPECT_EQ(bytes.find(value), std::string::npos) << value;
    }
  }
}

TEST_F(phantom_test, bad_sizes_are_refused) {
  dm2::synth::phantom_options o;
  o.size = 0;
  EXPECT_THROW(dm2::synth::sample_phantom(o), std::invalid_argument);
  o.size = 64;
  o.slices = 5000;
  EXPECT_THROW(dm2::synth::sample_phantom(o), std::invalid_argument);
}

}  // namespace
