// Parallel C-GET of one series against real servers.
#include "dm2/pacs/parallel_fetch.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/dicom_client.hpp"
#include "dm2/pacs/series_cache.hpp"
#include "dm2/pacs/volume.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "pacs_server_fixture.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

using dm2::test::synthetic_series;

// One Orthanc per test process, with a small series; the 100-slice series only when asked.
class parallel_fetch_test : public ::testing::Test {
 protected:
  // Without a private network namespace nothing is started and SetUp() skips every test.
  static void SetUpTestSuite() {
    if (!dm2::test::confine_to_private_network().empty()) return;
    dir_ = new dm2::test::temp_dir("dm2-pacs-fetch");
    std::filesystem::create_directories(dir_->path() / "orthanc");
    std::filesystem::create_directories(dir_->path() / "small");
    orthanc_ = new dm2::test::orthanc_server(dir_->path() / "orthanc");
    ASSERT_EQ(orthanc_->start(), "");
    dm2::test::synthetic_options o;
    o.slices = 10;
    small_ = new synthetic_series(dm2::test::write_synthetic_series(dir_->path() / "small", o));
    ASSERT_EQ(orthanc_->upload(small_->files), "");
  }
  void SetUp() override { DM2_REQUIRE_PRIVATE_NETWORK(); }
  static void TearDownTestSuite() {
    delete orthanc_;
    delete small_;
    delete dir_;
  }
  static dm2::test::temp_dir* dir_;
  static dm2::test::orthanc_server* orthanc_;
  static synthetic_series* small_;
};
dm2::test::temp_dir* parallel_fetch_test::dir_ = nullptr;
dm2::test::orthanc_server* parallel_fetch_test::orthanc_ = nullptr;
synthetic_series* parallel_fetch_test::small_ = nullptr;

TEST_F(parallel_fetch_test, ct_series_of_100_slices_over_4_associations) {
  std::filesystem::create_directories(dir_->path() / "big");
  dm2::test::synthetic_options o;
  o.slices = 100;
  o.rows = 512;
  o.columns = 512;
  auto big = dm2::test::write_synthetic_series(dir_->path() / "big", o);
  ASSERT_EQ(orthanc_->upload(big.files), "");

  dm2::test::temp_dir out;
  std::vector<fetch_progress> seen;
  fetch_options opt;
  opt.progress = [&](const fetch_progress& p) { seen.push_back(p); };
  auto r = fetch_series(orthanc_->settings(), big.study_uid, big.series_uid, out.path(), opt);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->associations, 4u);
  EXPECT_EQ(r->retried, 0u);
  ASSERT_EQ(r->files.size(), 100u);
  EXPECT_GT(r->bytes, 100u * 512 * 512 * 2);
  std::set<std::string> expected, got;
  for (const auto& uid : big.sop_uids) expected.insert((out / (uid + ".dcm")).string());
  for (const auto& f : r->files) {
    got.insert(f);
    EXPECT_TRUE(std::filesystem::exists(f));
  }
  EXPECT_EQ(got, expected);
  ASSERT_EQ(seen.size(), 100u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].done, i + 1);
    EXPECT_EQ(seen[i].total, 100u);
    if (i > 0) {
      EXPECT_GT(seen[i].bytes, seen[i - 1].bytes);
    }
  }
  EXPECT_EQ(seen.back().bytes, r->bytes);
}

TEST_F(parallel_fetch_test, works_against_dcmqrscp_too) {
  std::filesystem::create_directories(dir_->path() / "qrscp");
  dm2::test::dcmqrscp_server qrscp(dir_->path() / "qrscp");
  ASSERT_EQ(qrscp.start(), "");
  ASSERT_EQ(qrscp.upload(small_->files), "");
  dm2::test::temp_dir out;
  fetch_options opt;
  opt.associations = 3;
  auto r = fetch_series(qrscp.settings(), small_->study_uid, small_->series_uid, out.path(), opt);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->files.size(), 10u);
  EXPECT_EQ(r->associations, 3u);
}

TEST_F(parallel_fetch_test, cancellation_stops_and_leaves_nothing) {
  dm2::test::temp_dir out;
  std::stop_source source;
  fetch_options opt;
  opt.associations = 2;
  opt.stop = source.get_token();
  opt.progress = [&](const fetch_progress& p) {
    if (p.done == 3) source.request_stop();
  };
  auto r = fetch_series(orthanc_->settings(), small_->study_uid, small_->series_uid, out.path(), opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::cancelled);
  EXPECT_EQ(dm2::test::snapshot_tree(out.path()), "");
}

TEST_F(parallel_fetch_test, a_failed_instance_is_retried) {
  dm2::test::temp_dir out;
  // A directory where the partial file must go makes the first attempt for this instance fail.
  const std::string victim = small_->sop_uids[4];
  auto blocker = out / (victim + ".dcm.part");
  std::filesystem::create_directory(blocker);
  std::vector<std::string> failed;
  fetch_options opt;
  opt.on_attempt_failed = [&](const std::string& uid, const error&) {
    failed.push_back(uid);
    std::filesystem::remove(blocker);
  };
  auto r = fetch_series(orthanc_->settings(), small_->study_uid, small_->series_uid, out.path(), opt);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(failed, std::vector<std::string>{victim});
  EXPECT_EQ(r->retried, 1u);
  EXPECT_EQ(r->files.size(), 10u);
  EXPECT_TRUE(std::filesystem::exists(out / (victim + ".dcm")));
}

TEST_F(parallel_fetch_test, an_instance_failing_every_retry_fails_the_fetch_and_cleans_up) {
  dm2::test::temp_dir out;
  const std::string victim = small_->sop_uids[7];
  std::filesystem::create_directory(out / (victim + ".dcm.part"));
  const auto before = dm2::test::snapshot_tree(out.path());
  unsigned attempts = 0;
  fetch_options opt;
  opt.retries = 2;
  opt.on_attempt_failed = [&](const std::string&, const error&) { ++attempts; };
  auto r = fetch_series(orthanc_->settings(), small_->study_uid, small_->series_uid, out.path(), opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::io_error) << r.err().to_string();
  EXPECT_EQ(attempts, 3u);
  EXPECT_EQ(dm2::test::snapshot_tree(out.path()), before);
}

TEST_F(parallel_fetch_test, series_of_more_classes_than_one_association_holds) {
  // 14 storage classes, one instance each: more than max_get_sop_classes, so batches are cut
  // at each class and each C-GET proposes its own on an association of its own (RT Image is not
  // in the fallback list: it comes only because its class is proposed).
  const std::vector<std::string> classes = {
      UID_CTImageStorage, UID_MRImageStorage, UID_ComputedRadiographyImageStorage,
      UID_DigitalXRayImageStorageForPresentation, UID_DigitalXRayImageStorageForProcessing,
      UID_DigitalMammographyXRayImageStorageForPresentation, UID_UltrasoundImageStorage,
      UID_UltrasoundMultiframeImageStorage, UID_XRayAngiographicImageStorage,
      UID_XRayRadiofluoroscopicImageStorage, UID_NuclearMedicineImageStorage,
      UID_PositronEmissionTomographyImageStorage, UID_SecondaryCaptureImageStorage,
      UID_RTImageStorage};
  ASSERT_GT(classes.size(), max_get_sop_classes);
  dm2::test::synthetic_options o;
  o.slices = 1;
  o.rows = o.columns = 8;
  std::vector<std::filesystem::path> files;
  std::set<std::string> expected;
  dm2::test::temp_dir data;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    o.sop_class = classes[i];
    std::filesystem::create_directories(data / std::to_string(i));
    auto one = dm2::test::write_synthetic_series(data / std::to_string(i), o);
    o.study_uid = one.study_uid;
    o.series_uid = one.series_uid;
    files.push_back(one.files[0]);
    expected.insert(one.sop_uids[0]);
  }
  ASSERT_EQ(orthanc_->upload(files), "");
  for (unsigned associations : {1u, 3u}) {
    dm2::test::temp_dir out;
    fetch_options opt;
    opt.associations = associations;
    opt.batch = 64;
    auto r = fetch_series(orthanc_->settings(), o.study_uid, o.series_uid, out.path(), opt);
    ASSERT_TRUE(r.ok()) << r.err().to_string();
    EXPECT_EQ(r->retried, 0u);
    std::set<std::string> got;
    for (const auto& f : r->files) got.insert(std::filesystem::path(f).stem().string());
    EXPECT_EQ(got, expected);
  }
}

TEST_F(parallel_fetch_test, unknown_series_is_not_found) {
  dm2::test::temp_dir out;
  auto r = fetch_series(orthanc_->settings(), small_->study_uid, "1.2.826.0.1.99", out.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::not_found);
}

TEST(parallel_fetch, pacs_down_is_unavailable) {
  dm2::test::temp_dir out;
  pacs_settings s;
  s.port = dm2::test::free_port();
  auto r = fetch_series(s, "1.2.3", "1.2.3.4", out.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable);
}

}  // namespace
}  // namespace dm2::pacs

namespace dm2::pacs {
namespace {

// The node's ingest path in small: PACS -> parallel C-GET -> assembly -> NIfTI, in the cache.
series_fetcher pacs_fetcher(const pacs_settings& s, const std::string& study, const std::string& series) {
  return [=](const std::filesystem::path& staging) -> status {
    auto got = fetch_series(s, study, series, staging);
    if (!got) return got.err();
    std::vector<std::filesystem::path> files(got->files.begin(), got->files.end());
    auto v = assemble_series(files);
    if (!v) return v.err();
    return write_nifti(*v, staging / "volume.nii");
  };
}

TEST_F(parallel_fetch_test, cache_holds_fetched_and_assembled_series_and_nothing_on_failure) {
  dm2::test::temp_dir cache_dir;
  auto cache = series_cache::open({cache_dir.path(), 1ull << 30});
  ASSERT_TRUE(cache.ok());
  const std::string lfn = "11112222333344445555666677778888";
  auto r = cache->get_or_fetch(lfn, pacs_fetcher(orthanc_->settings(), small_->study_uid, small_->series_uid));
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->files.size(), 11u);  // 10 slices + volume.nii
  EXPECT_TRUE(std::filesystem::exists(r->dir / "volume.nii"));

  // A "series" on the PACS whose instances have two orientations: refused, nothing cached.
  std::filesystem::create_directories(dir_->path() / "mixed" / "a");
  std::filesystem::create_directories(dir_->path() / "mixed" / "b");
  dm2::test::synthetic_options o;
  o.slices = 3;
  auto a = dm2::test::write_synthetic_series(dir_->path() / "mixed" / "a", o);
  o.study_uid = a.study_uid;
  o.series_uid = a.series_uid;
  o.orientation = {1, 0, 0, 0, 0, -1};
  o.origin = {0, 0, 300};
  auto b = dm2::test::write_synthetic_series(dir_->path() / "mixed" / "b", o);
  ASSERT_EQ(orthanc_->upload(a.files), "");
  ASSERT_EQ(orthanc_->upload(b.files), "");
  const auto before = dm2::test::snapshot_tree(cache_dir.path());
  const std::string bad_lfn = "99990000999900009999000099990000";
  auto mixed = cache->get_or_fetch(bad_lfn, pacs_fetcher(orthanc_->settings(), a.study_uid, a.series_uid));
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.err().code, errc::malformed_input);
  EXPECT_NE(mixed.err().message.find("mixed orientation"), std::string::npos) << mixed.err().message;
  EXPECT_EQ(dm2::test::snapshot_tree(cache_dir.path()), before);

  // PACS down: nothing cached either.
  auto down = orthanc_->settings();
  down.port = dm2::test::free_port();
  auto r2 = cache->get_or_fetch(bad_lfn, pacs_fetcher(down, a.study_uid, a.series_uid));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.err().code, errc::unavailable);
  EXPECT_EQ(dm2::test::snapshot_tree(cache_dir.path()), before);
  EXPECT_EQ(cache->count(), 1u);
}

// Received into memory (what a re-assembly does): nothing written, and each instance
// de-identifies to the bytes of the file form's, and the series assembles to the same volume, from
// Orthanc and from dcmqrscp.
TEST_F(parallel_fetch_test, received_into_memory_deidentifies_and_assembles_as_the_files_do) {
  std::filesystem::create_directories(dir_->path() / "qrscp-memory");
  dm2::test::dcmqrscp_server qrscp(dir_->path() / "qrscp-memory");
  ASSERT_EQ(qrscp.start(), "");
  ASSERT_EQ(qrscp.upload(small_->files), "");
  deid_options deid;
  deid.uid_secret = "consortium-secret-for-tests-0001";
  for (const auto& settings : {orthanc_->settings(), qrscp.settings()}) {
    SCOPED_TRACE(settings.called_ae_title);
    dm2::test::temp_dir files_dir, unused;
    auto on_disk = fetch_series(settings, small_->study_uid, small_->series_uid, files_dir.path());
    ASSERT_TRUE(on_disk.ok()) << on_disk.err().to_string();
    std::map<std::string, std::string> got;
    fetch_options opt;
    opt.associations = 3;
    opt.received = [&](const std::string& uid, std::string part10) { got[uid] = std::move(part10); };
    auto r = fetch_series(settings, small_->study_uid, small_->series_uid, unused.path(), opt);
    ASSERT_TRUE(r.ok()) << r.err().to_string();
    EXPECT_EQ(dm2::test::snapshot_tree(unused.path()), "");
    EXPECT_EQ(std::set<std::string>(r->files.begin(), r->files.end()),
              std::set<std::string>(small_->sop_uids.begin(), small_->sop_uids.end()));
    ASSERT_EQ(got.size(), small_->sop_uids.size());
    std::vector<dicom_in_memory> held;
    for (const auto& [uid, part10] : got) {
      std::string in_memory;
      auto m = deidentify_part10(part10, deid, in_memory);
      ASSERT_TRUE(m.ok()) << m.err().to_string();
      auto f = deidentify_file(files_dir / (uid + ".dcm"), files_dir / (uid + ".deid"), deid);
      ASSERT_TRUE(f.ok()) << f.err().to_string();
      auto written = dm2::crypto::read_file(files_dir / (uid + ".deid"));
      ASSERT_TRUE(written.ok());
      EXPECT_TRUE(in_memory == *written) << uid << ": " << in_memory.size() << " bytes against " << written->size();
      held.push_back({uid, part10});
    }
    std::vector<std::filesystem::path> files(on_disk->files.begin(), on_disk->files.end());
    auto from_files = assemble_series(files);
    auto from_memory = assemble_series_in_memory(held);
    ASSERT_TRUE(from_files.ok() && from_memory.ok());
    EXPECT_EQ(from_memory->voxels, from_files->voxels);
    EXPECT_EQ(from_memory->affine_ras, from_files->affine_ras);
    ASSERT_EQ(from_memory->files.size(), from_files->files.size());
    for (std::size_t i = 0; i < from_files->files.size(); ++i)
      EXPECT_EQ(from_memory->files[i], std::filesystem::path(from_files->files[i]).stem().string());
  }
}

// More bytes than the caller can hold: too_large, not retried, and the fetch stops.
TEST_F(parallel_fetch_test, received_into_memory_beyond_the_cap_is_too_large) {
  dm2::test::temp_dir unused;
  std::size_t received = 0;
  unsigned attempts_failed = 0;
  fetch_options opt;
  opt.associations = 1;
  opt.batch = 10;
  opt.max_memory_bytes = 5 * std::filesystem::file_size(small_->files.front()) / 2;
  opt.received = [&](const std::string&, std::string) { ++received; };
  opt.on_attempt_failed = [&](const std::string&, const error&) { ++attempts_failed; };
  auto r = fetch_series(orthanc_->settings(), small_->study_uid, small_->series_uid, unused.path(), opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::too_large) << r.err().to_string();
  EXPECT_LE(received, 3u);
  EXPECT_EQ(attempts_failed, 0u);
  EXPECT_EQ(dm2::test::snapshot_tree(unused.path()), "");
}

}  // namespace
}  // namespace dm2::pacs
