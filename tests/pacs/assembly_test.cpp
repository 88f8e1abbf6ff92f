// Series assembly and NIfTI output: synthetic series with known geometry, and real files from
// pydicom (compressed, big-endian, implicit VR, multi-frame, truncated).
#include "dm2/pacs/volume.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <nifti1_io.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "pacs_server_fixture.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

using dm2::test::synthetic_options;
using dm2::test::write_synthetic_series;

std::array<double, 3> apply(const std::array<double, 16>& m, double i, double j, double k) {
  return {m[0] * i + m[1] * j + m[2] * k + m[3], m[4] * i + m[5] * j + m[6] * k + m[7],
          m[8] * i + m[9] * j + m[10] * k + m[11]};
}

// An oblique orientation (rotated about two axes), unit and orthogonal.
synthetic_options oblique() {
  synthetic_options o;
  o.slices = 12;
  o.rows = 24;
  o.columns = 32;
  const double a = 0.3, b = 0.2;
  o.orientation = {std::cos(a), std::sin(a), 0, -std::sin(a) * std::cos(b), std::cos(a) * std::cos(b), std::sin(b)};
  return o;
}

TEST(assembly, shuffled_slices_come_back_in_order) {
  dm2::test::temp_dir dir;
  auto o = oblique();
  auto s = write_synthetic_series(dir.path(), o);
  auto files = s.files;
  std::mt19937 rng(7);
  std::shuffle(files.begin(), files.end(), rng);
  auto v = assemble_series(files);
  ASSERT_TRUE(v.ok()) << v.err().to_string();
  ASSERT_EQ(v->dims, (std::array<std::size_t, 3>{32, 24, 12}));
  for (unsigned k = 0; k < 12; ++k) {
    EXPECT_EQ(v->files[k], s.files[k].string());
    for (unsigned j = 0; j < 24; j += 5)
      for (unsigned i = 0; i < 32; i += 7)
        ASSERT_EQ(v->at(i, j, k), static_cast<float>(dm2::test::synthetic_value(i, j, k)) - 1024.0f);
  }
  EXPECT_NEAR(v->spacing[0], o.pixel_spacing[1], 1e-9);
  EXPECT_NEAR(v->spacing[1], o.pixel_spacing[0], 1e-9);
  EXPECT_NEAR(v->spacing[2], o.slice_spacing, 1e-6);
}

TEST(assembly, affine_and_nifti_match_dicom_geometry) {
  dm2::test::temp_dir dir;
  auto o = oblique();
  auto s = write_synthetic_series(dir.path(), o);
  auto v = assemble_series(s.files);
  ASSERT_TRUE(v.ok()) << v.err().to_string();
  const auto& r = o.orientation;
  const std::array<double, 3> n = {r[1] * r[5] - r[2] * r[4], r[2] * r[3] - r[0] * r[5], r[0] * r[4] - r[1] * r[3]};
  auto lps = v->affine_lps();
  for (double k : {0.0, 5.0, 11.0})
    for (double j : {0.0, 23.0})
      for (double i : {0.0, 31.0}) {
        // DICOM: IPP(k) + i * column spacing * row vector + j * row spacing * column vector.
        std::array<double, 3> want;
        for (int a = 0; a < 3; ++a)
          want[a] = o.origin[a] + k * o.slice_spacing * n[a] + i * o.pixel_spacing[1] * r[a] +
                    j * o.pixel_spacing[0] * r[3 + a];
        auto got = apply(lps, i, j, k);
        auto ras = apply(v->affine_ras, i, j, k);
        for (int a = 0; a < 3; ++a) EXPECT_NEAR(got[a], want[a], 1e-4);
        EXPECT_NEAR(ras[0], -want[0], 1e-4);
        EXPECT_NEAR(ras[1], -want[1], 1e-4);
        EXPECT_NEAR(ras[2], want[2], 1e-4);
      }

  auto path = dir / "series.nii";
  ASSERT_TRUE(write_nifti(*v, path).ok());
  nifti_image* nim = nifti_image_read(path.c_str(), 1);
  ASSERT_NE(nim, nullptr);
  EXPECT_EQ(nim->nx, 32);
  EXPECT_EQ(nim->ny, 24);
  EXPECT_EQ(nim->nz, 12);
  EXPECT_EQ(nim->datatype, NIFTI_TYPE_FLOAT32);
  EXPECT_EQ(nim->sform_code, NIFTI_XFORM_SCANNER_ANAT);
  for (int row = 0; row < 3; ++row)
    for (int c = 0; c < 4; ++c) {
      EXPECT_NEAR(nim->sto_xyz.m[row][c], v->affine_ras[row * 4 + c], 1e-3);
      EXPECT_NEAR(nim->qto_xyz.m[row][c], v->affine_ras[row * 4 + c], 1e-3);
    }
  const float* data = static_cast<const float*>(nim->data);
  EXPECT_TRUE(std::equal(data, data + v->voxels.size(), v->voxels.begin()));
  nifti_image_free(nim);
  EXPECT_FALSE(std::filesystem::exists(dir / "series.part.nii"));

  // The same file held in memory (the node seals the volume from it): header + voxels is
  // write_nifti's file byte for byte, the voxels not copied.
  auto header = nifti_header(*v);
  ASSERT_TRUE(header.ok()) << header.err().to_string();
  std::ifstream in(path, std::ios::binary);
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(header->size(), 352u);
  EXPECT_EQ(*header + std::string(voxel_bytes(*v)), written);
  EXPECT_EQ(voxel_bytes(*v).data(), reinterpret_cast<const char*>(v->voxels.data()));
  volume empty;
  EXPECT_EQ(nifti_header(empty).err().code, errc::invalid_argument);
}

TEST(assembly, a_missing_slice_is_reported) {
  dm2::test::temp_dir dir;
  auto s = write_synthetic_series(dir.path(), oblique());
  auto files = s.files;
  files.erase(files.begin() + 5);
  auto v = assemble_series(files);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::malformed_input);
  EXPECT_NE(v.err().message.find("gap in series: 1 slice(s) missing"), std::string::npos) << v.err().message;
  EXPECT_NE(v.err().message.find("after slice 5 of 11"), std::string::npos) << v.err().message;
}

TEST(assembly, two_orientations_are_refused) {
  dm2::test::temp_dir dir;
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  auto o = oblique();
  auto a = write_synthetic_series(dir / "a", o);
  o.series_uid = a.series_uid;
  o.study_uid = a.study_uid;
  o.orientation = {1, 0, 0, 0, 0, -1};  // coronal
  o.origin = {0, 0, 200};
  auto b = write_synthetic_series(dir / "b", o);
  auto files = a.files;
  files.insert(files.end(), b.files.begin(), b.files.end());
  auto v = assemble_series(files);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::malformed_input);
  EXPECT_NE(v.err().message.find("mixed orientation"), std::string::npos) << v.err().message;
}

TEST(assembly, mixed_series_sizes_duplicates_and_uneven_spacing_are_refused) {
  dm2::test::temp_dir dir;
  for (auto sub : {"a", "b", "c", "d"}) std::filesystem::create_directories(dir / sub);
  auto a = write_synthetic_series(dir / "a", oblique());
  auto b = write_synthetic_series(dir / "b", oblique());  // another SeriesInstanceUID
  auto mixed = a.files;
  mixed.push_back(b.files[0]);
  auto v = assemble_series(mixed);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.err().message.find("mixed series"), std::string::npos) << v.err().message;

  auto dup = a.files;
  dup.push_back(a.files[3]);
  v = assemble_series(dup);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.err().message.find("duplicate slice position"), std::string::npos) << v.err().message;

  auto o = oblique();
  o.series_uid = a.series_uid;
  o.rows = 16;
  auto c = write_synthetic_series(dir / "c", o);
  auto sizes = a.files;
  sizes.push_back(c.files[0]);
  v = assemble_series(sizes);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.err().message.find("mixed image sizes"), std::string::npos) << v.err().message;

  // One slice shifted by 40 % of a step: neither even nor a whole gap.
  o = oblique();
  o.slices = 1;
  o.series_uid = a.series_uid;
  const auto& r = o.orientation;
  const std::array<double, 3> n = {r[1] * r[5] - r[2] * r[4], r[2] * r[3] - r[0] * r[5], r[0] * r[4] - r[1] * r[3]};
  for (int k = 0; k < 3; ++k) o.origin[k] += (12 + 0.4) * o.slice_spacing * n[k];
  auto d = write_synthetic_series(dir / "d", o);
  auto uneven = a.files;
  uneven.push_back(d.files[0]);
  v = assemble_series(uneven);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.err().message.find("uneven slice spacing"), std::string::npos) << v.err().message;
}

TEST(assembly, truncated_and_non_dicom_files_are_refused) {
  dm2::test::temp_dir dir;
  auto text = dir / "notes.dcm";
  std::ofstream(text) << "this is not DICOM\n";
  auto v = assemble_series({text});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::malformed_input);

  auto s = write_synthetic_series(dir.path(), oblique());
  auto cut = dir / "cut.dcm";
  std::filesystem::copy_file(s.files[0], cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  v = assemble_series({cut});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::malformed_input) << v.err().to_string();

  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  v = assemble_series({data / "MR_truncated.dcm"});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::malformed_input) << v.err().to_string();
  EXPECT_FALSE(assemble_series({}).ok());
}

TEST(assembly, pydicom_encodings_decode_to_the_same_voxels) {
  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  auto ref = assemble_series({data / "MR_small.dcm"});
  ASSERT_TRUE(ref.ok()) << ref.err().to_string();
  EXPECT_EQ(ref->dims, (std::array<std::size_t, 3>{64, 64, 1}));
  for (const char* name : {"MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                           "MR_small_jpeg_ls_lossless.dcm", "MR_small_expb.dcm"}) {
    auto v = assemble_series({data / name});
    ASSERT_TRUE(v.ok()) << name << ": " << v.err().to_string();
    EXPECT_EQ(v->voxels, ref->voxels) << name;
    EXPECT_EQ(v->affine_ras, ref->affine_ras) << name;
  }
}

TEST(assembly, multi_frame_rt_dose_is_a_volume) {
  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  auto v = assemble_series({data / "rtdose.dcm"});
  ASSERT_TRUE(v.ok()) << v.err().to_string();
  EXPECT_EQ(v->dims, (std::array<std::size_t, 3>{10, 10, 15}));
  EXPECT_NEAR(v->spacing[2], 5.0, 1e-6);  // GridFrameOffsetVector steps 5 mm
  EXPECT_EQ(v->files.size(), 1u);
  EXPECT_TRUE(std::any_of(v->voxels.begin(), v->voxels.end(), [](float x) { return x > 0; }));
}

TEST(assembly, jpeg2000_and_colour_are_unsupported) {
  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  auto v = assemble_series({data / "MR_small_jp2klossless.dcm"});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::unsupported) << v.err().to_string();
  v = assemble_series({data / "SC_rgb_rle.dcm"});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::unsupported) << v.err().to_string();
}

TEST(assembly, compressed_synthetic_series_assembles_like_the_original) {
  dm2::test::temp_dir dir;
  auto o = oblique();
  o.slices = 4;
  std::filesystem::create_directories(dir / "plain");
  auto plain = write_synthetic_series(dir / "plain", o);
  auto ref = assemble_series(plain.files);
  ASSERT_TRUE(ref.ok());
  // Re-encode with dcmcjpls / dcmcrle (DCMTK tools) to JPEG-LS lossless and RLE.
  for (const auto& [tool, sub] : std::vector<std::pair<std::string, std::string>>{{"dcmcjpls", "jls"}, {"dcmcrle", "rle"}}) {
    std::filesystem::create_directories(dir / sub);
    std::vector<std::filesystem::path> encoded;
    for (const auto& f : plain.files) {
      auto out = dir / sub / f.filename();
      std::string cmd = "/usr/bin/" + tool + " " + f.string() + " " + out.string();
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
      encoded.push_back(out);
    }
    auto v = assemble_series(encoded);
    ASSERT_TRUE(v.ok()) << sub << ": " << v.err().to_string();
    EXPECT_EQ(v->voxels, ref->voxels) << sub;
  }
}

}  // namespace
}  // namespace dm2::pacs

namespace dm2::pacs {
namespace {

TEST(assembly, nibabel_two_slice_oblique_series) {
  const auto data = dm2::test::nibabel_test_data();
  if (data.empty()) GTEST_SKIP() << "python3-nibabel test data missing";
  // Implicit VR little endian Siemens MR, slightly oblique, 3 mm apart; given in reverse order.
  auto v = assemble_series({data / "1.dcm", data / "0.dcm"});
  ASSERT_TRUE(v.ok()) << v.err().to_string();
  EXPECT_EQ(v->dims[2], 2u);
  EXPECT_EQ(v->files.front(), (data / "0.dcm").string());
  EXPECT_NEAR(v->spacing[2], 3.0, 1e-3);
  // Voxel (0, 0, 1) sits at 1.dcm's ImagePositionPatient (LPS), i.e. x, y negated in RAS.
  auto ras = apply(v->affine_ras, 0, 0, 1);
  EXPECT_NEAR(ras[0], 805.0, 1e-3);
  EXPECT_NEAR(ras[1], 825.019119, 1e-3);
  EXPECT_NEAR(ras[2], -72.097641, 1e-3);

  const auto pydicom = dm2::test::pydicom_test_files();
  if (pydicom.empty()) GTEST_SKIP();
  auto mixed = assemble_series({data / "0.dcm", pydicom / "MR_small.dcm"});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.err().message.find("mixed"), std::string::npos) << mixed.err().message;
}

}  // namespace
}  // namespace dm2::pacs

namespace dm2::pacs {
namespace {

// An enhanced multi-frame object: geometry in shared and per-frame functional groups, frames
// stored out of spatial order.
TEST(assembly, enhanced_multi_frame_frames_are_sorted_by_position) {
  dm2::test::temp_dir dir;
  const unsigned rows = 6, cols = 5, frames = 4;
  const unsigned order[frames] = {2, 0, 3, 1};  // spatial index of stored frame f
  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, UID_EnhancedCTImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1125.77.1");
  ds.putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.2.1125.77.2");
  ds.putAndInsertString(DCM_NumberOfFrames, "4");
  ds.putAndInsertUint16(DCM_Rows, rows);
  ds.putAndInsertUint16(DCM_Columns, cols);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, 16);
  ds.putAndInsertUint16(DCM_HighBit, 15);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 1);
  DcmItem* shared = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
  DcmItem* m = nullptr;
  shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, m, 0);
  m->putAndInsertString(DCM_PixelSpacing, "0.5\\0.25");
  m->putAndInsertString(DCM_SliceThickness, "2");
  shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, m, 0);
  m->putAndInsertString(DCM_ImageOrientationPatient, "0\\1\\0\\0\\0\\-1");  // sagittal
  shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, m, 0);
  m->putAndInsertString(DCM_RescaleSlope, "2");
  m->putAndInsertString(DCM_RescaleIntercept, "-10");
  std::vector<Uint16> pixels(rows * cols * frames);
  for (unsigned f = 0; f < frames; ++f) {
    DcmItem* pf = nullptr;
    ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, pf, static_cast<long>(f)).good());
    DcmItem* pos = nullptr;
    pf->findOrCreateSequenceItem(DCM_PlanePositionSequence, pos, 0);
    // normal of (0,1,0) x (0,0,-1) = (-1, 0, 0): spatial index k sits at x = 10 - 2k.
    const std::string ipp = std::to_string(10 - 2.0 * order[f]) + "\\-20\\30";
    pos->putAndInsertString(DCM_ImagePositionPatient, ipp.c_str());
    for (unsigned p = 0; p < rows * cols; ++p)
      pixels[f * rows * cols + p] = static_cast<Uint16>(static_cast<Sint16>(100 * order[f] + p) - 50);
  }
  ASSERT_TRUE(ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())).good());
  auto path = dir / "enhanced.dcm";
  ASSERT_TRUE(ff.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());

  auto v = assemble_series({path});
  ASSERT_TRUE(v.ok()) << v.err().to_string();
  ASSERT_EQ(v->dims, (std::array<std::size_t, 3>{cols, rows, frames}));
  for (unsigned k = 0; k < frames; ++k)
    for (unsigned p = 0; p < rows * cols; ++p)
      ASSERT_EQ(v->at(p % cols, p / cols, k), 2.0f * (static_cast<float>(100 * k + p) - 50) - 10) << k << " " << p;
  EXPECT_NEAR(v->spacing[0], 0.25, 1e-9);
  EXPECT_NEAR(v->spacing[1], 0.5, 1e-9);
  EXPECT_NEAR(v->spacing[2], 2.0, 1e-9);
  auto lps = v->affine_lps();
  auto p = apply(lps, 1, 1, 1);  // IPP(k=1) + 1 * 0.25 * (0,1,0) + 1 * 0.5 * (0,0,-1)
  EXPECT_NEAR(p[0], 8.0, 1e-9);
  EXPECT_NEAR(p[1], -19.75, 1e-9);
  EXPECT_NEAR(p[2], 29.5, 1e-9);
}

}  // namespace
}  // namespace dm2::pacs

namespace dm2::pacs {
namespace {

TEST(assembly, synthetic_mr_series_in_coronal_orientation) {
  dm2::test::temp_dir dir;
  dm2::test::synthetic_options o;
  o.modality = "MR";
  o.slices = 6;
  o.rows = 20;
  o.columns = 16;
  o.orientation = {1, 0, 0, 0, 0, -1};  // coronal: row x column = (0, 1, 0)
  o.slice_spacing = 4.0;
  auto s = write_synthetic_series(dir.path(), o);
  auto files = s.files;
  std::reverse(files.begin(), files.end());
  auto v = assemble_series(files);
  ASSERT_TRUE(v.ok()) << v.err().to_string();
  EXPECT_EQ(v->dims, (std::array<std::size_t, 3>{16, 20, 6}));
  EXPECT_EQ(v->files.front(), s.files.front().string());
  EXPECT_NEAR(v->spacing[2], 4.0, 1e-6);
  auto lps = v->affine_lps();
  EXPECT_NEAR(lps[6], 4.0, 1e-6);  // k runs along +y (posterior) in LPS
  EXPECT_NEAR(v->affine_ras[6], -4.0, 1e-6);
}

}  // namespace
}  // namespace dm2::pacs
