// An instance's image apart from the instance (pacs/dicom_render.hpp): a frame's stored pixels,
// uncompressed, and the frame rendered to PNG or JPEG, windowed and scaled, by DCMTK's dcmimage.
#include "dm2/pacs/dicom_render.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>

#include "png_image.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace {

using dm2::pacs::image_format;
using dm2::pacs::render_settings;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One instance of 48 columns by 32 rows whose stored value is 60 × column + row (under 4096).
std::string instance(dm2::test::temp_dir& dir, const std::string& transfer_syntax = {}) {
  dm2::test::synthetic_options so;
  so.slices = 1;
  so.rows = 32;
  so.columns = 48;
  so.transfer_syntax = transfer_syntax;
  so.voxels = [](unsigned i, unsigned j, unsigned) {
    return static_cast<std::uint16_t>(60 * i + j);
  };
  return read_file(dm2::test::write_synthetic_series(dir.path(), so).files[0]);
}

// A PNG's width and height once decoded ((0, 0) when it does not decode).
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& png) {
  auto image = dm2::test::decode_png(png);
  return image ? std::pair{image->width, image->height} : std::pair{0U, 0U};
}

TEST(DicomRender, FramePixelsAreTheStoredValues) {
  dm2::test::temp_dir dir;
  auto dicom = instance(dir);
  auto count = dm2::pacs::frame_count(dicom);
  ASSERT_TRUE(count) << count.err().message;
  EXPECT_EQ(*count, 1U);
  auto pixels = dm2::pacs::frame_pixels(dicom, 0);
  ASSERT_TRUE(pixels) << pixels.err().message;
  ASSERT_EQ(pixels->size(), 32U * 48U * 2U);
  auto at = [&](unsigned i, unsigned j) {
    auto n = 2 * (j * 48 + i);
    return static_cast<unsigned>(static_cast<unsigned char>((*pixels)[n]) |
                                 static_cast<unsigned char>((*pixels)[n + 1]) << 8);
  };
  EXPECT_EQ(at(0, 0), 0U);
  EXPECT_EQ(at(1, 0), 60U);
  EXPECT_EQ(at(47, 31), 60U * 47U + 31U);
  EXPECT_EQ(dm2::pacs::frame_pixels(dicom, 1).err().code, dm2::errc::not_found);
  EXPECT_EQ(dm2::pacs::frame_pixels("not DICOM at all", 0).err().code, dm2::errc::malformed_input);
}

TEST(DicomRender, FramePixelsOfACompressedInstanceAreDecoded) {
  DcmRLEEncoderRegistration::registerCodecs();  // for the synthetic series' writer
  dm2::test::temp_dir plain_dir, rle_dir;
  auto plain = dm2::pacs::frame_pixels(instance(plain_dir), 0);
  auto rle = dm2::pacs::frame_pixels(instance(rle_dir, "1.2.840.10008.1.2.5"), 0);
  ASSERT_TRUE(plain && rle) << (rle ? plain.err().message : rle.err().message);
  EXPECT_EQ(*rle, *plain);
}

TEST(DicomRender, AFrameLargerThanAnyImageIsRefused) {
  dm2::test::temp_dir dir;
  auto path = dir.path() / "huge.dcm";
  {
    auto dicom = instance(dir);
    std::ofstream(path, std::ios::binary) << dicom;
  }
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(path.c_str()).good());
  ff.getDataset()->putAndInsertUint16(DCM_Rows, 16384);  // 16384² × 2 bytes: 512 MiB claimed
  ff.getDataset()->putAndInsertUint16(DCM_Columns, 16384);
  ASSERT_TRUE(ff.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  EXPECT_EQ(dm2::pacs::frame_pixels(read_file(path), 0).err().code, dm2::errc::too_large);
}

TEST(DicomRender, PngAndJpegOfTheImageSize) {
  dm2::test::temp_dir dir;
  auto dicom = instance(dir);
  render_settings how;
  how.format = image_format::png;
  auto png = dm2::pacs::rendered_frame(dicom, 0, how);
  ASSERT_TRUE(png) << png.err().message;
  EXPECT_EQ(png->substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_EQ(png_size(*png), std::make_pair(48U, 32U));
  EXPECT_EQ(png->find("tIME"), std::string::npos) << "no creation time: one frame, one PNG";
  how.format = image_format::jpeg;
  auto jpeg = dm2::pacs::rendered_frame(dicom, 0, how);
  ASSERT_TRUE(jpeg) << jpeg.err().message;
  EXPECT_EQ(jpeg->substr(0, 3), "\xff\xd8\xff");
  EXPECT_EQ(dm2::pacs::rendered_frame(dicom, 3, how).err().code, dm2::errc::not_found);
  EXPECT_EQ(dm2::pacs::rendered_frame("nope", 0, how).err().code, dm2::errc::malformed_input);
}

TEST(DicomRender, WindowIsTheInstancesUnlessGiven) {
  dm2::test::temp_dir dir;
  auto dicom = instance(dir);
  render_settings how;
  how.format = image_format::png;
  auto by_default = dm2::pacs::rendered_frame(dicom, 0, how);
  how.window_center = 40;  // the instance's own (synthetic_options::window)
  how.window_width = 400;
  auto same = dm2::pacs::rendered_frame(dicom, 0, how);
  how.window_center = 0;
  how.window_width = 4000;
  auto other = dm2::pacs::rendered_frame(dicom, 0, how);
  ASSERT_TRUE(by_default && same && other);
  EXPECT_EQ(*same, *by_default);
  EXPECT_NE(*other, *by_default);
}

TEST(DicomRender, ScaledToFitAspectKeptNeverEnlarged) {
  dm2::test::temp_dir dir;
  auto dicom = instance(dir);
  render_settings how;
  how.format = image_format::png;
  how.max_columns = how.max_rows = 16;
  auto small = dm2::pacs::rendered_frame(dicom, 0, how);
  ASSERT_TRUE(small) << small.err().message;
  EXPECT_EQ(png_size(*small), std::make_pair(16U, 10U));
  how.max_columns = how.max_rows = 512;
  auto large = dm2::pacs::rendered_frame(dicom, 0, how);
  ASSERT_TRUE(large);
  EXPECT_EQ(png_size(*large), std::make_pair(48U, 32U));
}

}  // namespace
