// An instance in memory as DICOMweb shows it (pacs/dicom_json.hpp): its DICOM JSON with the
// UIDs given and the pixel data by reference, and the instance rewritten with those UIDs (read
// back by DCMTK, pixel data and transfer syntax unchanged).
#include "dm2/pacs/dicom_json.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const dm2::pacs::dicomweb_uids uids{"2.25.258", "2.25.258.1"};

TEST(DicomJson, MetadataNamesTheGivenUidsAndRefersToPixelData) {
  dm2::test::temp_dir dir;
  dm2::test::synthetic_options so;
  so.slices = 2;
  auto series = dm2::test::write_synthetic_series(dir.path(), so);
  std::string sop;
  auto j = dm2::pacs::dicom_json_of(read_file(series.files[0]), uids, "https://h/dicom-web/x", sop);
  ASSERT_TRUE(j) << j.err().message;
  auto parsed = nlohmann::json::parse(*j);
  EXPECT_EQ(parsed["0020000D"]["Value"][0], "2.25.258");
  EXPECT_EQ(parsed["0020000E"]["Value"][0], "2.25.258.1");
  EXPECT_EQ(parsed["00080018"]["Value"][0], series.sop_uids[0]);
  EXPECT_EQ(sop, series.sop_uids[0]);
  EXPECT_EQ(parsed["7FE00010"]["BulkDataURI"], "https://h/dicom-web/x");
  EXPECT_FALSE(parsed["7FE00010"].contains("InlineBinary"));
}

TEST(DicomJson, InstanceRewrittenWithTheGivenUids) {
  dm2::test::temp_dir dir;
  dm2::test::synthetic_options so;
  so.slices = 1;
  auto series = dm2::test::write_synthetic_series(dir.path(), so);
  auto original = read_file(series.files[0]);
  auto rewritten = dm2::pacs::with_uids(original, uids);
  ASSERT_TRUE(rewritten) << rewritten.err().message;
  DcmInputBufferStream in;
  in.setBuffer(rewritten->data(), static_cast<offile_off_t>(rewritten->size()));
  in.setEos();
  DcmFileFormat ff;
  ff.transferInit();
  ASSERT_TRUE(ff.read(in).good());
  ff.transferEnd();
  OFString study, series_uid, sop;
  ff.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, study);
  ff.getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, series_uid);
  ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, sop);
  EXPECT_EQ(study, "2.25.258");
  EXPECT_EQ(series_uid, "2.25.258.1");
  EXPECT_EQ(sop.c_str(), series.sop_uids[0]);
  EXPECT_EQ(rewritten->compare(128, 4, "DICM"), 0);
  DcmFileFormat before;
  ASSERT_TRUE(before.loadFile(series.files[0].c_str()).good());
  const Uint16 *a = nullptr, *b = nullptr;
  unsigned long na = 0, nb = 0;
  ASSERT_TRUE(before.getDataset()->findAndGetUint16Array(DCM_PixelData, a, &na).good());
  ASSERT_TRUE(ff.getDataset()->findAndGetUint16Array(DCM_PixelData, b, &nb).good());
  ASSERT_EQ(na, nb);
  EXPECT_TRUE(std::equal(a, a + na, b));
  EXPECT_EQ(ff.getDataset()->getOriginalXfer(), before.getDataset()->getOriginalXfer());
}

TEST(DicomJson, NotDicomIsMalformed) {
  std::string sop;
  EXPECT_EQ(dm2::pacs::dicom_json_of("not a dicom file", uids, "u", sop).err().code,
            dm2::errc::malformed_input);
  EXPECT_FALSE(dm2::pacs::with_uids(std::string(300, 'x'), uids));
}

}  // namespace
