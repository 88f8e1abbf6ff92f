// DICOMweb's pure parts (docs/dicomweb.md): the pseudonymous UIDs of an LFN and back, the
// QIDO-RS query string's keys, dates, paging and refusals, a result's DICOM JSON (names for the
// care team), and what an image resource asks for (frame lists, Accept, rendered parameters).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dicomweb/dicom_uids.hpp"
#include "dicomweb/image_request.hpp"
#include "dicomweb/qido_json.hpp"
#include "dicomweb/qido_request.hpp"

namespace dm2::node::dicomweb {
namespace {

using json = nlohmann::json;

const std::string lfn = "00000000000000000000000000000102";
const std::string max_lfn(32, 'f');

TEST(DicomwebUids, LfnToUidsAndBack) {
  EXPECT_EQ(study_uid_of(lfn), "2.25.258");
  EXPECT_EQ(series_uid_of(lfn), "2.25.258.1");
  EXPECT_EQ(study_uid_of(max_lfn), "2.25.340282366920938463463374607431768211455");
  EXPECT_LE(series_uid_of(max_lfn).size(), 64u);
  EXPECT_EQ(lfn_of_study("2.25.258"), lfn);
  EXPECT_EQ(lfn_of_series("2.25.258.1"), lfn);
  EXPECT_EQ(lfn_of_study(study_uid_of(max_lfn)), max_lfn);
  EXPECT_EQ(lfn_of_series(series_uid_of("0123456789abcdef0123456789abcdef")),
            "0123456789abcdef0123456789abcdef");
}

TEST(DicomwebUids, OtherUidsNameNoSeries) {
  EXPECT_FALSE(lfn_of_study("2.25.340282366920938463463374607431768211456"));  // 2^128
  EXPECT_FALSE(lfn_of_study("2.25.0258"));
  EXPECT_FALSE(lfn_of_study("1.2.840.10008.1.2"));
  EXPECT_FALSE(lfn_of_study("2.25.258.1"));
  EXPECT_FALSE(lfn_of_series("2.25.258"));
  EXPECT_FALSE(lfn_of_series("2.25.258.2"));
  EXPECT_TRUE(valid_uid("1.2.840.10008.1.2.1"));
  EXPECT_FALSE(valid_uid("1.02.3"));
  EXPECT_FALSE(valid_uid("1..2"));
  EXPECT_FALSE(valid_uid("1.2a"));
  EXPECT_FALSE(valid_uid(std::string(65, '1')));
  EXPECT_FALSE(valid_uid(""));
}

TEST(QidoRequest, KeysByKeywordAndTag) {
  auto q = parse_qido(
      "/dicom-web/series?Modality=MR&00180015=HEART&StudyDate=20240101-20241231&PatientSex=F"
      "&includefield=00081030,SeriesDescription&limit=10&offset=20",
      qido_level::series);
  ASSERT_TRUE(q) << q.err().message;
  EXPECT_EQ(q->filter.modality, "MR");
  EXPECT_EQ(q->filter.body_part, "HEART");
  EXPECT_EQ(q->filter.sex, "F");
  ASSERT_TRUE(q->filter.study_date);
  EXPECT_EQ(q->filter.study_date->from, "20240101");
  EXPECT_EQ(q->filter.study_date->to, "20241231");
  EXPECT_EQ(q->limit, 10u);
  EXPECT_EQ(q->offset, 20u);
  EXPECT_FALSE(q->lfns);
}

TEST(QidoRequest, DateForms) {
  auto one = parse_qido("/x?StudyDate=20240305", qido_level::study);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->filter.study_date->from, "20240305");
  EXPECT_EQ(one->filter.study_date->to, "20240305");
  auto open_end = parse_qido("/x?StudyDate=20240305-", qido_level::study);
  ASSERT_TRUE(open_end);
  EXPECT_EQ(open_end->filter.study_date->to, "99991231");
  auto open_start = parse_qido("/x?SeriesDate=-20240305", qido_level::series);
  ASSERT_TRUE(open_start);
  EXPECT_EQ(open_start->filter.series_date->from, "00000101");
  for (const char* bad :
       {"2024", "20241301", "20240305-20240101", "-", "2024-03-05", "20240305-2024"})
    EXPECT_FALSE(parse_qido(std::string("/x?StudyDate=") + bad, qido_level::study)) << bad;
}

TEST(QidoRequest, UidListsNameLfns) {
  auto q = parse_qido("/x?StudyInstanceUID=2.25.258,1.2.3%2C2.25.1", qido_level::study);
  ASSERT_TRUE(q) << q.err().message;
  ASSERT_TRUE(q->lfns);
  EXPECT_EQ(q->lfns->size(), 2u);
  EXPECT_TRUE(q->lfns->count(lfn));
  // The path's study and a query's series must both match.
  auto both = parse_qido("/x?SeriesInstanceUID=2.25.259.1", qido_level::series, "2.25.258");
  ASSERT_TRUE(both);
  EXPECT_TRUE(both->lfns->empty());
  auto foreign = parse_qido("/x", qido_level::series, "1.2.3.4");
  ASSERT_TRUE(foreign);
  EXPECT_TRUE(foreign->lfns->empty());
  EXPECT_FALSE(parse_qido("/x?StudyInstanceUID=1.2.x", qido_level::study));
  EXPECT_FALSE(parse_qido("/x", qido_level::series, "not-a-uid"));
}

TEST(QidoRequest, UniversalMatching) {
  auto q = parse_qido("/x?Modality=*&PatientName=&StudyDescription=&00100020=", qido_level::series);
  ASSERT_TRUE(q) << q.err().message;
  EXPECT_FALSE(q->filter.modality);
  EXPECT_FALSE(q->lfns);
}

TEST(QidoRequest, RefusesWhatTheIndexCannotMatch) {
  for (const char* bad :
       {"PatientName=DOE*", "PatientID=1234", "AccessionNumber=A1", "Modality=M?", "Modality=MR,CT",
        "PatientSex=X", "Nonsense=1", "no-such-parameter=1", "limit=0", "limit=1001", "limit=ten",
        "offset=-1", "offset=990&limit=20", "fuzzymatching=maybe", "includefield=bad-field",
        "Modality=MR&Modality=CT", "ModalitiesInStudy=MR&Modality=CT", "Modality=%ZZ",
        "Modality=%0A"}) {
    auto q = parse_qido(std::string("/x?") + bad, qido_level::study);
    ASSERT_FALSE(q) << bad;
    EXPECT_EQ(q.err().code, errc::invalid_argument) << bad;
  }
}

TEST(QidoRequest, PagingDefaultsAndWarnings) {
  auto q = parse_qido("/x?fuzzymatching=true&offset=950", qido_level::study);
  ASSERT_TRUE(q) << q.err().message;
  EXPECT_EQ(q->limit, 50u);  // the default, cut to the 1,000 results a search reaches
  ASSERT_EQ(q->warnings.size(), 1u);
  EXPECT_NE(q->warnings[0].find("fuzzymatching"), std::string::npos);
  auto d = parse_qido("/x", qido_level::study);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->limit, qido_limits::default_limit);
}

TEST(QidoJson, StudyAndSeriesResults) {
  json attributes = {
      {"modality", "MR"},          {"body_part", "HEART"},
      {"manufacturer", "SYNTH"},   {"study_date", "20240305"},
      {"series_date", "20240305"}, {"sex", "F"},
      {"age_band", "040-049"},     {"diagnoses", json::array({{{"code", "I21.4"}}})}};
  auto study = qido_result(qido_level::study, lfn, "site-2", attributes, "https://h:1/dicom-web");
  EXPECT_EQ(study["0020000D"], (json{{"vr", "UI"}, {"Value", {"2.25.258"}}}));
  EXPECT_EQ(study["00080061"], (json{{"vr", "CS"}, {"Value", {"MR"}}}));
  EXPECT_EQ(study["00080020"], (json{{"vr", "DA"}, {"Value", {"20240305"}}}));
  EXPECT_EQ(study["00100010"], (json{{"vr", "PN"}}));  // present, empty: never a name
  EXPECT_EQ(study["00100020"], (json{{"vr", "LO"}}));
  EXPECT_EQ(study["00201206"]["Value"][0], 1);
  EXPECT_EQ(study["00081190"]["Value"][0], "https://h:1/dicom-web/studies/2.25.258");
  EXPECT_EQ(study["00091001"]["Value"][0], lfn);
  EXPECT_EQ(study["00091004"]["Value"], json::array({"I21.4"}));
  EXPECT_FALSE(study.contains("0020000E"));
  auto series = qido_result(qido_level::series, lfn, "site-2", attributes, "https://h:1/dicom-web");
  EXPECT_EQ(series["0020000E"]["Value"][0], "2.25.258.1");
  EXPECT_EQ(series["00080060"]["Value"][0], "MR");
  EXPECT_EQ(series["00180015"]["Value"][0], "HEART");
  EXPECT_EQ(series["00081190"]["Value"][0],
            "https://h:1/dicom-web/studies/2.25.258/series/2.25.258.1");
  EXPECT_FALSE(series.contains("00080061"));
}

TEST(QidoJson, PeersBadValuesAreLeftOut) {
  json attributes = {{"modality", 7}, {"body_part", "A\\B"}, {"sex", std::string("F\x01")}};
  auto r = qido_result(qido_level::series, lfn, "site-2", attributes, "https://h/dicom-web");
  EXPECT_EQ(r["00080060"], (json{{"vr", "CS"}}));
  EXPECT_EQ(r["00180015"], (json{{"vr", "CS"}}));
  EXPECT_EQ(r["00100040"], (json{{"vr", "CS"}}));
}

TEST(QidoJson, PatientNamesForTheCareTeam) {
  auto r = qido_result(qido_level::study, lfn, "site-1", json::object(), "https://h/dicom-web");
  add_patient_names(r, {"DOE^JANE", "PID-0042", ""});
  EXPECT_EQ(r["00100010"], (json{{"vr", "PN"}, {"Value", {{{"Alphabetic", "DOE^JANE"}}}}}));
  EXPECT_EQ(r["00100020"], (json{{"vr", "LO"}, {"Value", {"PID-0042"}}}));
  EXPECT_EQ(r["00080050"], (json{{"vr", "SH"}}));  // no accession number: still empty
  EXPECT_EQ(r["0020000D"]["Value"][0], "2.25.258");  // the UIDs stay pseudonymous
}

TEST(ImageRequest, FrameLists) {
  EXPECT_EQ(*parse_frame_list("1"), (std::vector<unsigned>{1}));
  EXPECT_EQ(*parse_frame_list("3,1,2"), (std::vector<unsigned>{3, 1, 2}));
  for (const char* bad : {"", "0", "1,", ",1", "1,1", "a", "-1", "1.5", "1 ,2", "99999999999"})
    EXPECT_EQ(parse_frame_list(bad).err().code, errc::invalid_argument) << bad;
  std::string many = "1";
  for (unsigned n = 2; n <= image_limits::max_frames + 1; ++n) many += "," + std::to_string(n);
  EXPECT_FALSE(parse_frame_list(many));
}

TEST(ImageRequest, FramesAccept) {
  for (const char* ok : {"", "*/*", "multipart/related; type=\"application/octet-stream\"",
                         "multipart/related; type=application/octet-stream; transfer-syntax=*",
                         "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1",
                         "image/jpeg, multipart/related; type=application/octet-stream"})
    EXPECT_TRUE(frames_acceptable(ok)) << ok;
  for (const char* no : {"image/jpeg", "application/dicom",
                         "multipart/related; type=\"image/jls\"",
                         "multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50"})
    EXPECT_EQ(frames_acceptable(no).err().code, errc::unsupported) << no;
}

TEST(ImageRequest, RenderedMediaTypeAndParameters) {
  auto plain = parse_rendered("/x/rendered", "");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->media_type, "image/jpeg");
  EXPECT_FALSE(plain->settings.window_center);
  EXPECT_EQ(parse_rendered("/x", "image/png")->media_type, "image/png");
  EXPECT_EQ(parse_rendered("/x", "image/png;q=0.9, image/jpeg")->media_type, "image/png");
  EXPECT_EQ(parse_rendered("/x", "image/*")->media_type, "image/jpeg");
  EXPECT_EQ(parse_rendered("/x", "image/gif").err().code, errc::unsupported);
  EXPECT_EQ(parse_rendered("/x", "application/dicom").err().code, errc::unsupported);
  EXPECT_EQ(parse_rendered("/x", "image/png")->settings.format, pacs::image_format::png);

  auto r = parse_rendered("/x?window=40,400&quality=70&viewport=64,32", "image/jpeg");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(*r->settings.window_center, 40);
  EXPECT_EQ(*r->settings.window_width, 400);
  EXPECT_EQ(r->settings.jpeg_quality, 70U);
  EXPECT_EQ(r->settings.max_columns, 64U);
  EXPECT_EQ(r->settings.max_rows, 32U);
  auto encoded = parse_rendered("/x?window=-600%2C1500%2Clinear", "");
  ASSERT_TRUE(encoded) << encoded.err().message;
  EXPECT_EQ(*encoded->settings.window_center, -600);
  for (const char* bad : {"/x?window=40", "/x?window=40,0", "/x?window=a,b", "/x?window=40,400,sigmoid",
                          "/x?quality=0", "/x?quality=101", "/x?viewport=64", "/x?viewport=0,5",
                          "/x?viewport=5000,5", "/x?annotation=patient", "/x?quality=5&quality=6", "/x?window=%zz"})
    EXPECT_EQ(parse_rendered(bad, "").err().code, errc::invalid_argument) << bad;
}

}  // namespace
}  // namespace dm2::node::dicomweb
