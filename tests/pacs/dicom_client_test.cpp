// The SCU against real servers: Orthanc and dcmqrscp on 127.0.0.1, started once per suite.
#include "dm2/pacs/dicom_client.hpp"
#include "dm2/pacs/parallel_fetch.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
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
  std::vector<synthetic_series> modalities;  // one small CR, DX, MG, US and XA series each
  synthetic_series mixed;                    // one series: CR and DX instances
  synthetic_series unlisted;                 // one series: a CR and a private-class instance
};

// A private SOP class: in no list of ours or DCMTK's.
constexpr const char* private_sop_class = "1.2.826.0.1.3680043.8.498.4242.1";

// More instances of the series `into`, with another modality or SOP class (`o`).
void add_instances(const std::filesystem::path& dir, synthetic_series& into, dm2::test::synthetic_options o) {
  o.study_uid = into.study_uid;
  o.series_uid = into.series_uid;
  auto more = dm2::test::write_synthetic_series(dir, o);
  into.files.insert(into.files.end(), more.files.begin(), more.files.end());
  into.sop_uids.insert(into.sop_uids.end(), more.sop_uids.begin(), more.sop_uids.end());
}

dm2::test::synthetic_options small(const std::string& modality, unsigned slices) {
  dm2::test::synthetic_options o;
  o.modality = modality;
  o.slices = slices;
  o.rows = o.columns = 16;
  o.patient_id = "PID-CLASSES";  // not the patient the find tests count
  return o;
}

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
    for (const char* modality : {"CR", "DX", "MG", "US", "XA"}) {
      auto dir = env->dir / "data" / modality;
      std::filesystem::create_directories(dir);
      env->modalities.push_back(dm2::test::write_synthetic_series(dir, small(modality, 2)));
    }
    std::filesystem::create_directories(env->dir / "mixed");
    env->mixed = dm2::test::write_synthetic_series(env->dir / "mixed", small("CR", 2));
    std::filesystem::create_directories(env->dir / "mixed" / "dx");
    add_instances(env->dir / "mixed" / "dx", env->mixed, small("DX", 2));
    std::filesystem::create_directories(env->dir / "unlisted" / "private");
    env->unlisted = dm2::test::write_synthetic_series(env->dir / "unlisted", small("CR", 1));
    auto unknown = small("CR", 1);
    unknown.sop_class = private_sop_class;
    add_instances(env->dir / "unlisted" / "private", env->unlisted, unknown);
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
    for (const auto& m : env->modalities) files.insert(files.end(), m.files.begin(), m.files.end());
    files.insert(files.end(), env->mixed.files.begin(), env->mixed.files.end());
    ASSERT_EQ(slot->upload(files), "");
    // dcmqrscp refuses to store a SOP class it does not know; Orthanc is told to accept it.
    if (GetParam() == "orthanc") {
      ASSERT_EQ(slot->upload({env->unlisted.files[0]}), "");
      ASSERT_EQ(slot->upload_unchecked(env->unlisted.files[1]), "");
    }
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

// The bytes of a DICOM file after its File Meta Information (which each writer makes its
// own): the data set as stored and sent.
std::string dataset_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Preamble (128), "DICM", then (0002,0000) UL in explicit VR LE: tag 4, VR 2, length 2, value 4.
  if (all.size() < 144 || all.compare(128, 4, "DICM") != 0) return "not a DICOM file: " + path.string();
  std::uint32_t meta = 0;
  for (int i = 3; i >= 0; --i) meta = (meta << 8) | static_cast<unsigned char>(all[140 + i]);
  if (144 + static_cast<std::size_t>(meta) > all.size()) return "bad meta header: " + path.string();
  return all.substr(144 + meta);
}

// Every instance of `series` is in `dir` as <SOPInstanceUID>.dcm with the original data set.
void expect_same_instances(const std::filesystem::path& dir, const synthetic_series& series) {
  for (std::size_t k = 0; k < series.files.size(); ++k) {
    auto path = dir / (series.sop_uids[k] + ".dcm");
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_EQ(dataset_bytes(path), dataset_bytes(series.files[k])) << path;
  }
}

dicom_query series_query(const synthetic_series& series) {
  return {query_level::series,
          {{"StudyInstanceUID", series.study_uid}, {"SeriesInstanceUID", series.series_uid}}};
}

TEST_P(dicom_client_test, every_storage_class_by_get_and_move) {
  for (const auto& series : env->modalities) {
    SCOPED_TRACE(series.files.at(0).parent_path().filename().string());  // the modality
    // C-GET proposing the classes the image-level C-FIND names.
    dm2::test::temp_dir fetched;
    auto f = fetch_series(server().settings(), series.study_uid, series.series_uid, fetched.path());
    ASSERT_TRUE(f.ok()) << f.err().to_string();
    EXPECT_EQ(f->files.size(), series.files.size());
    expect_same_instances(fetched.path(), series);
    // C-GET not told the classes: the fallback list holds these too.
    dicom_client c(server().settings());
    dm2::test::temp_dir got;
    auto g = c.get(series_query(series), got.path());
    ASSERT_TRUE(g.ok()) << g.err().to_string();
    expect_same_instances(got.path(), series);
    // C-MOVE to our C-STORE SCP, which accepts every storage class.
    dm2::test::temp_dir moved;
    auto m = c.move(series_query(series), moved.path());
    ASSERT_TRUE(m.ok()) << m.err().to_string();
    EXPECT_EQ(m->files.size(), series.files.size());
    expect_same_instances(moved.path(), series);
  }
}

TEST_P(dicom_client_test, mixed_series_of_two_classes) {
  dm2::test::temp_dir fetched;
  fetch_options one_batch;
  one_batch.associations = 1;
  auto f = fetch_series(server().settings(), env->mixed.study_uid, env->mixed.series_uid, fetched.path(), one_batch);
  ASSERT_TRUE(f.ok()) << f.err().to_string();
  EXPECT_EQ(f->files.size(), 4u);
  expect_same_instances(fetched.path(), env->mixed);

  dicom_client c(server().settings());
  dm2::test::temp_dir got;
  get_options both;
  both.sop_classes = {dm2::test::storage_class_of("DX"), dm2::test::storage_class_of("CR")};
  auto g = c.get(series_query(env->mixed), got.path(), both);
  ASSERT_TRUE(g.ok()) << g.err().to_string();
  expect_same_instances(got.path(), env->mixed);
  // A new association told only one class: the other class's instances cannot be sent.
  dicom_client fresh(server().settings());
  dm2::test::temp_dir partial;
  get_options cr_only;
  cr_only.sop_classes = {dm2::test::storage_class_of("CR")};
  auto p = fresh.get(series_query(env->mixed), partial.path(), cr_only);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.err().code, errc::unavailable) << p.err().to_string();
  EXPECT_NE(p.err().message.find("sub-operations failed"), std::string::npos) << p.err().to_string();
  for (std::size_t k = 2; k < env->mixed.sop_uids.size(); ++k)  // the DX instances
    EXPECT_FALSE(std::filesystem::exists(partial / (env->mixed.sop_uids[k] + ".dcm")));

  dm2::test::temp_dir moved;
  auto m = c.move(series_query(env->mixed), moved.path());
  ASSERT_TRUE(m.ok()) << m.err().to_string();
  expect_same_instances(moved.path(), env->mixed);
}

TEST_P(dicom_client_test, class_outside_every_list_fails_per_instance) {
  if (GetParam() != "orthanc") {
    // dcmqrscp stores no class it does not know, and negotiates none: a C-GET of the CR series
    // told only the private class gets nothing, and the error names the class refused.
    dicom_client c(server().settings());
    dm2::test::temp_dir got;
    get_options wrong;
    wrong.sop_classes = {private_sop_class};
    auto g = c.get(series_query(env->modalities.at(0)), got.path(), wrong);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.err().code, errc::unavailable) << g.err().to_string();
    EXPECT_NE(g.err().message.find(std::string("accepted no presentation context for ") + private_sop_class),
              std::string::npos)
        << g.err().to_string();
    EXPECT_EQ(dm2::test::snapshot_tree(got.path()), "");
    return;
  }
  const auto& private_uid = env->unlisted.sop_uids[1];
  dicom_client c(server().settings());
  // Not told the classes: the fallback list lacks the private one.
  dm2::test::temp_dir got;
  auto g = c.get(series_query(env->unlisted), got.path());
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.err().code, errc::unavailable) << g.err().to_string();
  EXPECT_NE(g.err().message.find("1 sub-operations failed"), std::string::npos) << g.err().to_string();
  EXPECT_NE(g.err().message.find("unknown"), std::string::npos) << g.err().to_string();
  // Orthanc ends a C-GET or C-MOVE at its first failed sub-operation: the CR may not come.
  EXPECT_FALSE(std::filesystem::exists(got / (private_uid + ".dcm")));
  // C-MOVE: our C-STORE SCP accepts only storage classes DCMTK knows.
  dm2::test::temp_dir moved;
  auto m = c.move(series_query(env->unlisted), moved.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.err().code, errc::unavailable) << m.err().to_string();
  EXPECT_NE(m.err().message.find(std::string("refused SOP class ") + private_sop_class), std::string::npos)
      << m.err().to_string();
  EXPECT_FALSE(std::filesystem::exists(moved / (private_uid + ".dcm")));
  // fetch_series proposes the classes the C-FIND names, the private one too.
  dm2::test::temp_dir fetched;
  std::vector<std::string> failed;
  fetch_options o;
  o.on_attempt_failed = [&](const std::string& uid, const error&) { failed.push_back(uid); };
  auto f = fetch_series(server().settings(), env->unlisted.study_uid, env->unlisted.series_uid, fetched.path(), o);
  ASSERT_TRUE(f.ok()) << f.err().to_string();
  EXPECT_TRUE(failed.empty());
  expect_same_instances(fetched.path(), env->unlisted);
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
