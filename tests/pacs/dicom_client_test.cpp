// The SCU against real servers: Orthanc and dcmqrscp on 127.0.0.1, started once per suite.
#include "dm2/pacs/dicom_client.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "pacs_server_fixture.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

using dm2::test::synthetic_series;

struct servers {
  dm2::test::temp_dir dir{"dm2-pacs-net"};
  std::unique_ptr<dm2::test::pacs_server> orthanc, qrscp;
  synthetic_series series;
  std::filesystem::path rtplan;
};

servers* env = nullptr;

// Servers start on first use, so a ctest run of one test starts only the one it needs.
class dicom_client_test : public ::testing::TestWithParam<std::string> {
 public:
  static void SetUpTestSuite() {
    env = new servers;
    std::filesystem::create_directories(env->dir / "data");
    dm2::test::synthetic_options o;
    o.slices = 12;
    env->series = dm2::test::write_synthetic_series(env->dir / "data", o);
    // An RT Plan: a SOP class our C-GET does not negotiate, to provoke failed sub-operations.
    env->rtplan = dm2::test::pydicom_test_files() / "rtplan.dcm";
  }
  static void TearDownTestSuite() {
    delete env;  // the servers' destructors stop them
    env = nullptr;
  }

 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    auto& slot = GetParam() == "orthanc" ? env->orthanc : env->qrscp;
    if (slot) return;
    auto dir = env->dir / GetParam();
    std::filesystem::create_directories(dir);
    if (GetParam() == "orthanc")
      slot = std::make_unique<dm2::test::orthanc_server>(dir);
    else
      slot = std::make_unique<dm2::test::dcmqrscp_server>(dir);
    ASSERT_EQ(slot->start(), "");
    auto files = env->series.files;
    files.push_back(env->rtplan);
    ASSERT_EQ(slot->upload(files), "");
  }
  dm2::test::pacs_server& server() {
    return GetParam() == "orthanc" ? *env->orthanc : *env->qrscp;
  }
};

TEST_P(dicom_client_test, echo_succeeds) {
  dicom_client c(server().settings());
  auto r = c.echo();
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  ASSERT_TRUE(c.echo().ok());  // the association is reused
}

TEST_P(dicom_client_test, find_at_every_level) {
  dicom_client c(server().settings());
  auto patients = c.find({query_level::patient, {{"PatientID", "PID-0042"}}});
  ASSERT_TRUE(patients.ok()) << patients.err().to_string();
  ASSERT_EQ(patients->size(), 1u);
  EXPECT_EQ(patients->front().get("PatientName"), "DOE^JANE");

  auto studies = c.find({query_level::study, {{"PatientID", "PID-0042"}}});
  ASSERT_TRUE(studies.ok()) << studies.err().to_string();
  ASSERT_EQ(studies->size(), 1u);
  EXPECT_EQ(studies->front().get("StudyInstanceUID"), env->series.study_uid);

  auto series = c.find({query_level::series, {{"StudyInstanceUID", env->series.study_uid}}});
  ASSERT_TRUE(series.ok()) << series.err().to_string();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ(series->front().get("SeriesInstanceUID"), env->series.series_uid);
  EXPECT_EQ(series->front().get("Modality"), "CT");

  auto images = c.find({query_level::image,
                        {{"StudyInstanceUID", env->series.study_uid},
                         {"SeriesInstanceUID", env->series.series_uid}}});
  ASSERT_TRUE(images.ok()) << images.err().to_string();
  std::set<std::string> got;
  for (const auto& m : *images) got.insert(m.get("SOPInstanceUID"));
  EXPECT_EQ(got, std::set<std::string>(env->series.sop_uids.begin(), env->series.sop_uids.end()));

  auto none = c.find({query_level::study, {{"PatientID", "NOBODY"}}});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(dicom_client_test, unknown_keyword_is_refused) {
  dicom_client c(server().settings());
  auto r = c.find({query_level::study, {{"NoSuchKeyword", "x"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::invalid_argument);
}

void expect_same_pixels(const std::string& received, const std::filesystem::path& original) {
  DcmFileFormat a, b;
  ASSERT_TRUE(a.loadFile(received.c_str()).good()) << received;
  ASSERT_TRUE(b.loadFile(original.string().c_str()).good());
  const Uint16 *pa = nullptr, *pb = nullptr;
  unsigned long na = 0, nb = 0;
  ASSERT_TRUE(a.getDataset()->findAndGetUint16Array(DCM_PixelData, pa, &na).good());
  ASSERT_TRUE(b.getDataset()->findAndGetUint16Array(DCM_PixelData, pb, &nb).good());
  ASSERT_EQ(na, nb);
  EXPECT_TRUE(std::equal(pa, pa + na, pb));
}

TEST_P(dicom_client_test, get_series_stores_every_instance) {
  dm2::test::temp_dir out;
  dicom_client c(server().settings());
  auto r = c.get({query_level::series,
                  {{"StudyInstanceUID", env->series.study_uid},
                   {"SeriesInstanceUID", env->series.series_uid}}},
                 out.path());
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  ASSERT_EQ(r->files.size(), env->series.files.size());
  EXPECT_GT(r->bytes, 12u * 64 * 64 * 2);
  for (std::size_t k = 0; k < env->series.files.size(); ++k) {
    auto path = out / (env->series.sop_uids[k] + ".dcm");
    ASSERT_TRUE(std::filesystem::exists(path));
    expect_same_pixels(path.string(), env->series.files[k]);
  }
  // Several UIDs in one identifier, on the same association.
  dm2::test::temp_dir out2;
  auto two = c.get({query_level::image,
                    {{"StudyInstanceUID", env->series.study_uid},
                     {"SeriesInstanceUID", env->series.series_uid},
                     {"SOPInstanceUID", env->series.sop_uids[0] + "\\" + env->series.sop_uids[1]}}},
                   out2.path());
  ASSERT_TRUE(two.ok()) << two.err().to_string();
  EXPECT_EQ(two->files.size(), 2u);
}

TEST_P(dicom_client_test, move_series_to_in_process_scp) {
  dm2::test::temp_dir out;
  dicom_client c(server().settings());
  auto r = c.move({query_level::series,
                   {{"StudyInstanceUID", env->series.study_uid},
                    {"SeriesInstanceUID", env->series.series_uid}}},
                  out.path());
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  ASSERT_EQ(r->files.size(), env->series.files.size());
  for (std::size_t k = 0; k < env->series.files.size(); ++k)
    expect_same_pixels((out / (env->series.sop_uids[k] + ".dcm")).string(), env->series.files[k]);
}

TEST_P(dicom_client_test, get_of_unknown_uid_is_not_found) {
  dm2::test::temp_dir out;
  dicom_client c(server().settings());
  auto r = c.get({query_level::series,
                  {{"StudyInstanceUID", env->series.study_uid}, {"SeriesInstanceUID", "1.2.3.4.5"}}},
                 out.path());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.err().code == errc::not_found || r.err().code == errc::unavailable) << r.err().to_string();
  EXPECT_EQ(dm2::test::snapshot_tree(out.path()), "");
}

TEST_P(dicom_client_test, failed_sub_operations_are_an_error) {
  DcmFileFormat plan;
  ASSERT_TRUE(plan.loadFile(env->rtplan.string().c_str()).good());
  OFString study, series;
  plan.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, study);
  plan.getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, series);
  dm2::test::temp_dir out;
  dicom_client c(server().settings());
  auto r = c.get({query_level::series,
                  {{"StudyInstanceUID", study.c_str()}, {"SeriesInstanceUID", series.c_str()}}},
                 out.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable) << r.err().to_string();
  EXPECT_NE(r.err().message.find("status"), std::string::npos) << r.err().to_string();
}

TEST_P(dicom_client_test, wrong_called_ae_is_refused) {
  auto s = server().settings();
  s.called_ae_title = "NOT_THE_PACS";
  dicom_client c(s);
  auto r = c.echo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::permission_denied) << r.err().to_string();
}

INSTANTIATE_TEST_SUITE_P(servers, dicom_client_test, ::testing::Values("orthanc", "dcmqrscp"));

TEST(dicom_client, pacs_down_is_unavailable) {
  pacs_settings s;
  s.port = dm2::test::free_port();
  s.timeout = std::chrono::seconds(2);
  dicom_client c(s);
  auto r = c.echo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable) << r.err().to_string();
  dm2::test::temp_dir out;
  auto g = c.get({query_level::study, {{"StudyInstanceUID", "1.2.3"}}}, out.path());
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.err().code, errc::unavailable);
  EXPECT_EQ(dm2::test::snapshot_tree(out.path()), "");
}

TEST(dicom_client, failed_find_status_is_an_error) {
  // dcmqrscp answers a series-level query without the StudyInstanceUID key with a failure
  // status (0xC000); Orthanc accepts such queries, so this runs against dcmqrscp only.
  DM2_REQUIRE_PRIVATE_NETWORK();
  dm2::test::temp_dir dir;
  std::filesystem::create_directories(dir / "qrscp");
  dm2::test::dcmqrscp_server qrscp(dir / "qrscp");
  ASSERT_EQ(qrscp.start(), "");
  dm2::test::synthetic_options o;
  o.slices = 1;
  o.rows = o.columns = 8;
  ASSERT_EQ(qrscp.upload(dm2::test::write_synthetic_series(dir.path(), o).files), "");
  dicom_client c(qrscp.settings());
  dicom_query q{query_level::series, {{"SeriesInstanceUID", ""}}};
  q.default_return_keys = false;
  auto r = c.find(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_NE(r.err().message.find("0xC"), std::string::npos) << r.err().message;
  EXPECT_TRUE(c.echo().ok());  // the association survives a failed request
}

TEST(dicom_client, invalid_settings_are_refused) {
  pacs_settings s;
  s.calling_ae_title = "";
  dicom_client c(s);
  auto r = c.echo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::invalid_config);
}

}  // namespace
}  // namespace dm2::pacs
