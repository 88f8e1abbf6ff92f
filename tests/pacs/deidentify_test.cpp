// De-identification against table E.1-1, attribute by attribute.
#include "dm2/pacs/deidentify.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "dm2/crypto/private_file.hpp"
#include "pacs_server_fixture.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

const std::string secret = "consortium-secret-for-tests-0001";

deid_options basic() {
  deid_options o;
  o.uid_secret = secret;
  return o;
}

std::string str(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v.c_str();
}

// Puts a plausible value of the tag's dictionary VR; false if DCMTK cannot hold one.
bool put_value(DcmDataset& ds, const DcmTag& tag, std::map<DcmTagKey, std::string>& originals) {
  const DcmEVR vr = tag.getEVR();
  static int counter = 0;
  ++counter;
  std::string value;
  switch (vr) {
    case EVR_SQ: {
      DcmItem* item = nullptr;
      if (ds.findOrCreateSequenceItem(tag, item, 0).bad() || item == nullptr) return false;
      item->putAndInsertString(DCM_ReferencedSOPInstanceUID, ("1.2.826.0.1.3680043.2." + std::to_string(counter)).c_str());
      item->putAndInsertString(DCM_CodeMeaning, "SECRET MEANING");
      originals[tag] = "<sequence>";
      return true;
    }
    case EVR_DA: value = "20200102"; break;
    case EVR_TM: value = "112233"; break;
    case EVR_DT: value = "20200102112233"; break;
    case EVR_PN: value = "SECRET^PERSON"; break;
    case EVR_UI: value = "1.2.826.0.1.3680043.2." + std::to_string(counter); break;
    case EVR_AS: value = "042Y"; break;
    case EVR_IS: case EVR_DS: case EVR_US: case EVR_SS: case EVR_UL: case EVR_SL: case EVR_FL:
    case EVR_FD: value = "7"; break;
    case EVR_AE: case EVR_CS: case EVR_SH: value = "SECRET" + std::to_string(counter % 100); break;
    case EVR_LO: case EVR_LT: case EVR_ST: case EVR_UT: case EVR_UC: case EVR_UR:
      value = "secret text " + std::to_string(counter);
      break;
    case EVR_OB: case EVR_OW: case EVR_UN: {
      Uint8 bytes[4] = {1, 2, 3, 4};
      if (ds.putAndInsertUint8Array(tag, bytes, 4).bad()) return false;
      originals[tag] = "<binary>";
      return true;
    }
    default:
      return false;
  }
  if (ds.putAndInsertString(tag, value.c_str()).bad()) return false;
  originals[tag] = value;
  return true;
}

TEST(deidentify, every_attribute_of_the_table_is_handled_as_the_table_says) {
  dm2::test::temp_dir dir;
  dm2::test::synthetic_options so;
  so.slices = 1;
  auto series = dm2::test::write_synthetic_series(dir.path(), so);
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(series.files[0].c_str()).good());
  DcmDataset& ds = *ff.getDataset();
  std::map<DcmTagKey, std::string> originals;
  std::vector<std::string> skipped;
  const std::set<DcmTagKey> keep_from_file = {DCM_SOPInstanceUID, DCM_StudyInstanceUID, DCM_SeriesInstanceUID,
                                              DCM_FrameOfReferenceUID};
  for (const auto& rule : basic_profile_table()) {
    if (rule.group_mask != 0xFFFF || rule.element_mask != 0xFFFF) continue;
    if (rule.group <= 0x0004 || rule.group >= 0xFFFA) continue;  // command/meta/DICOMDIR/trailing
    DcmTag tag(rule.group, rule.element);
    if (keep_from_file.count(tag) != 0) {
      originals[tag] = str(ds, tag);
      continue;
    }
    if (tag.getEVR() == EVR_UNKNOWN || tag.getEVR() == EVR_UNKNOWN2B || !put_value(ds, tag, originals))
      skipped.push_back(rule.name);
  }
  // Repeating groups: an overlay comment in group 6002.
  ASSERT_TRUE(ds.putAndInsertString(DcmTag(0x6002, 0x4000, EVR_LT), "overlay secret").good());
  // Dictionary gaps of DCMTK 3.6.7 (attributes newer than its dictionary) stay few.
  EXPECT_LT(skipped.size(), 40u);
  ASSERT_GT(originals.size(), 500u);
  auto in = dir / "in.dcm";
  ASSERT_TRUE(ff.saveFile(in.c_str(), EXS_LittleEndianExplicit).good());

  auto out = dir / "out.dcm";
  auto r = deidentify_file(in, out, basic());
  ASSERT_TRUE(r.ok()) << r.err().to_string();

  DcmFileFormat got;
  ASSERT_TRUE(got.loadFile(out.c_str()).good());
  DcmDataset& g = *got.getDataset();
  unsigned checked = 0;
  for (const auto& rule : basic_profile_table()) {
    DcmTag tag(rule.group, rule.element);
    auto it = originals.find(tag);
    if (it == originals.end()) continue;
    ++checked;
    const bool present = g.tagExists(tag);
    const std::string name = std::string(rule.name) + " " + tag.toString().c_str();
    DcmElement* e = nullptr;
    g.findAndGetElement(tag, e);
    switch (rule.action) {
      case 'X':
        EXPECT_FALSE(present) << name << " survived (X)";
        break;
      case 'Z':
        ASSERT_TRUE(present) << name << " must stay, empty (Z)";
        EXPECT_EQ(e->getLength(), 0u) << name << " not empty (Z)";
        if (tag.getEVR() == EVR_SQ) {
          EXPECT_EQ(static_cast<DcmSequenceOfItems*>(e)->card(), 0u) << name;
        }
        break;
      case 'D':
        ASSERT_TRUE(present) << name << " must stay with a dummy (D)";
        if (tag.getEVR() == EVR_SQ) {
          EXPECT_EQ(static_cast<DcmSequenceOfItems*>(e)->card(), 0u) << name;
        } else if (it->second != "<binary>") {
          EXPECT_NE(str(g, tag), it->second) << name << " kept its value (D)";
        }
        break;
      case 'U':
        ASSERT_TRUE(present) << name << " must stay (U)";
        if (tag.getEVR() == EVR_UI) {
          EXPECT_EQ(str(g, tag), remap_uid(secret, it->second)) << name;
        } else if (tag.getEVR() == EVR_SQ) {
          DcmItem* item = nullptr;
          ASSERT_TRUE(g.findAndGetSequenceItem(tag, item, 0).good()) << name;
          std::string inner = str(*item, DCM_ReferencedSOPInstanceUID);
          EXPECT_EQ(inner.rfind("2.25.", 0), 0u) << name << " inner UID not remapped";
        }
        break;
    }
  }
  EXPECT_GT(checked, 500u);
  // Private attributes and repeating-group rules.
  EXPECT_FALSE(g.tagExists(DcmTagKey(0x0009, 0x0010)));
  EXPECT_FALSE(g.tagExists(DcmTagKey(0x0009, 0x1001)));
  EXPECT_FALSE(g.tagExists(DcmTagKey(0x6002, 0x4000)));
  // Marked as de-identified, with the code of the profile.
  EXPECT_EQ(str(g, DCM_PatientIdentityRemoved), "YES");
  EXPECT_NE(str(g, DCM_DeidentificationMethod).find("Basic Application Level Confidentiality"), std::string::npos);
  DcmItem* code = nullptr;
  ASSERT_TRUE(g.findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, code, 0).good());
  EXPECT_EQ(str(*code, DCM_CodeValue), "113100");
  // The meta header follows the new SOP Instance UID.
  EXPECT_EQ(str(*got.getMetaInfo(), DCM_MediaStorageSOPInstanceUID), r->sop_instance_uid);
  EXPECT_EQ(r->sop_instance_uid, remap_uid(secret, series.sop_uids[0]));
  // The nominative record holds what was removed, as DICOM JSON.
  EXPECT_NE(r->nominative_json.find("SECRET^PERSON"), std::string::npos);
  EXPECT_NE(r->nominative_json.find("00091001"), std::string::npos);
  EXPECT_NE(r->nominative_json.find(series.sop_uids[0]), std::string::npos);
  // Nothing nominative in the output file's bytes.
  std::ifstream f(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const char* secret_text : {"DOE^JANE", "PID-0042", "HOUSE^GREGORY", "Hopital Test", "SECRET^PERSON",
                                  "secret vendor data", "overlay secret"})
    EXPECT_EQ(bytes.find(secret_text), std::string::npos) << secret_text;
}

TEST(deidentify, uids_map_consistently_across_a_series_and_pixels_are_unchanged) {
  dm2::test::temp_dir dir;
  std::filesystem::create_directories(dir / "in");
  std::filesystem::create_directories(dir / "out");
  dm2::test::synthetic_options so;
  so.slices = 5;
  so.rows = so.columns = 32;
  auto series = dm2::test::write_synthetic_series(dir / "in", so);
  std::set<std::string> sops, studies, seriess, frames;
  for (std::size_t k = 0; k < series.files.size(); ++k) {
    auto out = dir / "out" / (std::to_string(k) + ".dcm");
    auto r = deidentify_file(series.files[k], out, basic());
    ASSERT_TRUE(r.ok()) << r.err().to_string();
    EXPECT_NE(r->nominative_json.find("DOE^JANE"), std::string::npos);
    EXPECT_NE(r->nominative_json.find("PID-0042"), std::string::npos);
    DcmFileFormat a, b;
    ASSERT_TRUE(a.loadFile(series.files[k].c_str()).good());
    ASSERT_TRUE(b.loadFile(out.c_str()).good());
    DcmDataset& d = *b.getDataset();
    sops.insert(str(d, DCM_SOPInstanceUID));
    studies.insert(str(d, DCM_StudyInstanceUID));
    seriess.insert(str(d, DCM_SeriesInstanceUID));
    frames.insert(str(d, DCM_FrameOfReferenceUID));
    EXPECT_EQ(str(d, DCM_SOPInstanceUID), remap_uid(secret, series.sop_uids[k]));
    const Uint16 *pa = nullptr, *pb = nullptr;
    unsigned long na = 0, nb = 0;
    ASSERT_TRUE(a.getDataset()->findAndGetUint16Array(DCM_PixelData, pa, &na).good());
    ASSERT_TRUE(d.findAndGetUint16Array(DCM_PixelData, pb, &nb).good());
    ASSERT_EQ(na, nb);
    EXPECT_TRUE(std::equal(pa, pa + na, pb));
    // Geometry survives (needed for assembly after de-identification).
    EXPECT_EQ(str(d, DCM_ImagePositionPatient), str(*a.getDataset(), DCM_ImagePositionPatient));
    EXPECT_EQ(str(d, DCM_PatientName), "");
    EXPECT_EQ(str(d, DCM_StudyDate), "");
  }
  EXPECT_EQ(sops.size(), 5u);
  ASSERT_EQ(studies.size(), 1u);
  ASSERT_EQ(seriess.size(), 1u);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(*studies.begin(), remap_uid(secret, series.study_uid));
  EXPECT_EQ(*seriess.begin(), remap_uid(secret, series.series_uid));
  EXPECT_EQ(*frames.begin(), remap_uid(secret, series.frame_of_reference_uid));
  EXPECT_NE(remap_uid("another-secret-of-16+bytes", series.series_uid), *seriess.begin());
}

TEST(deidentify, remapped_uids_are_valid_and_deterministic) {
  auto a = remap_uid(secret, "1.2.3.4");
  EXPECT_EQ(a, remap_uid(secret, "1.2.3.4"));
  EXPECT_NE(a, remap_uid(secret, "1.2.3.5"));
  EXPECT_EQ(a.rfind("2.25.", 0), 0u);
  EXPECT_LE(a.size(), 44u);
  EXPECT_NE(a[5], '0');
  for (char c : a.substr(5)) EXPECT_TRUE(c >= '0' && c <= '9');
}

TEST(deidentify, dates_can_be_shifted_instead_of_removed) {
  dm2::test::temp_dir dir;
  dm2::test::synthetic_options so;
  so.slices = 1;
  so.rows = so.columns = 16;
  auto series = dm2::test::write_synthetic_series(dir.path(), so);
  auto o = basic();
  o.dates = date_mode::shift;
  o.shift_days = -20;
  o.patient_pseudonym = "LFN-3f2a";
  auto out = dir / "out.dcm";
  auto r = deidentify_file(series.files[0], out, o);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  DcmFileFormat f;
  ASSERT_TRUE(f.loadFile(out.c_str()).good());
  DcmDataset& d = *f.getDataset();
  EXPECT_EQ(str(d, DCM_StudyDate), "20240224");        // 2024-03-15 - 20 days (leap year)
  EXPECT_EQ(str(d, DCM_PatientBirthDate), "19691212");  // 1970-01-01 - 20 days
  EXPECT_EQ(str(d, DCM_StudyTime), "101500");
  EXPECT_EQ(str(d, DCM_PatientName), "LFN-3f2a");
  EXPECT_EQ(str(d, DCM_PatientID), "LFN-3f2a");
  EXPECT_EQ(str(d, DCM_LongitudinalTemporalInformationModified), "MODIFIED");
  DcmItem* code = nullptr;
  ASSERT_TRUE(d.findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, code, 1).good());
  EXPECT_EQ(str(*code, DCM_CodeValue), "113107");
  EXPECT_NE(r->nominative_json.find("20240315"), std::string::npos);
}

TEST(deidentify, bad_input_is_refused_and_nothing_is_written) {
  dm2::test::temp_dir dir;
  auto out = dir / "out.dcm";
  auto text = dir / "text.dcm";
  std::ofstream(text) << "plain text, not DICOM";
  auto r = deidentify_file(text, out, basic());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::malformed_input);
  EXPECT_FALSE(std::filesystem::exists(out));

  dm2::test::synthetic_options so;
  so.slices = 1;
  auto series = dm2::test::write_synthetic_series(dir.path(), so);
  deid_options weak;
  weak.uid_secret = "short";
  r = deidentify_file(series.files[0], out, weak);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::invalid_argument);

  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP();
  r = deidentify_file(data / "rtplan_truncated.dcm", out, basic());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::malformed_input) << r.err().to_string();
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(dm2::test::snapshot_tree(dir.path()).find(".part"), std::string::npos);
}

TEST(deidentify, real_files_keep_their_encoding_and_pixels) {
  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  dm2::test::temp_dir dir;
  for (const char* name : {"MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                           "JPEG-lossy.dcm", "MR_small_RLE.dcm", "rtdose.dcm", "image_dfl.dcm"}) {
    std::string bytes;
    auto r = deidentify_to_memory(data / name, basic(), bytes);
    ASSERT_TRUE(r.ok()) << name << ": " << r.err().to_string();
    auto out = dir / name;
    std::ofstream(out, std::ios::binary) << bytes;
    DcmFileFormat a, b;
    ASSERT_TRUE(a.loadFile((data / name).c_str()).good()) << name;
    ASSERT_TRUE(b.loadFile(out.c_str()).good()) << name;
    if (a.getDataset()->getOriginalXfer() == EXS_DeflatedLittleEndianExplicit) {
      EXPECT_EQ(b.getDataset()->getOriginalXfer(), EXS_LittleEndianExplicit) << name;
    } else {
      EXPECT_EQ(b.getDataset()->getOriginalXfer(), a.getDataset()->getOriginalXfer()) << name;
    }
    DcmElement *pa = nullptr, *pb = nullptr;
    ASSERT_TRUE(a.getDataset()->findAndGetElement(DCM_PixelData, pa).good()) << name;
    ASSERT_TRUE(b.getDataset()->findAndGetElement(DCM_PixelData, pb).good()) << name;
    EXPECT_EQ(pa->getLength(), pb->getLength()) << name;
    EXPECT_EQ(str(*b.getDataset(), DCM_PatientIdentityRemoved), "YES") << name;
    EXPECT_EQ(str(*b.getDataset(), DCM_PatientName), "") << name;
  }
}

// A re-assembly de-identifies instances received into memory: the bytes must be those the file
// form writes (the sealed plaintext, and the manifest's sizes, come from the ingest's file form).
TEST(deidentify, part10_in_memory_gives_the_file_forms_bytes) {
  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  dm2::test::temp_dir dir;
  for (const char* name : {"CT_small.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm",
                           "MR_small_implicit.dcm", "JPEG-lossy.dcm", "MR_small_RLE.dcm", "rtdose.dcm", "image_dfl.dcm"}) {
    auto in = dm2::crypto::read_file(data / name);
    ASSERT_TRUE(in.ok()) << name;
    std::string bytes;
    auto r = deidentify_part10(*in, basic(), bytes);
    ASSERT_TRUE(r.ok()) << name << ": " << r.err().to_string();
    auto f = deidentify_file(data / name, dir / name, basic());
    ASSERT_TRUE(f.ok()) << name << ": " << f.err().to_string();
    auto written = dm2::crypto::read_file(dir / name);
    ASSERT_TRUE(written.ok()) << name;
    EXPECT_TRUE(bytes == *written) << name << ": " << bytes.size() << " bytes in memory, " << written->size() << " in the file";
    EXPECT_EQ(r->nominative_json, f->nominative_json) << name;
    EXPECT_EQ(r->sop_instance_uid, f->sop_instance_uid) << name;
  }
}

TEST(deidentify, part10_in_memory_refuses_what_is_not_dicom) {
  const auto data = dm2::test::pydicom_test_files();
  std::string out = "untouched";
  for (std::string bad : {std::string(), std::string("not DICOM at all"), std::string(132, '\0') + "DICM"}) {
    auto r = deidentify_part10(bad, basic(), out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::malformed_input) << r.err().to_string();
  }
  if (data.empty()) GTEST_SKIP() << "python3-pydicom test files missing";
  auto whole = dm2::crypto::read_file(data / "CT_small.dcm");
  ASSERT_TRUE(whole.ok());
  auto r = deidentify_part10(std::string_view(*whole).substr(0, whole->size() / 2), basic(), out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::malformed_input) << r.err().to_string();
  deid_options short_secret;
  short_secret.uid_secret = "short";
  EXPECT_EQ(deidentify_part10(*whole, short_secret, out).err().code, errc::invalid_argument);
}

}  // namespace
}  // namespace dm2::pacs
