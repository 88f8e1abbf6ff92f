// `dm2 pacs fetch|deidentify` as a user runs them, against the older-PACS test server: exit
// codes, what is left on disk after a failure, and what the output says about identity.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dm2/pacs/deidentify.hpp"
#include "old_pacs_server.hpp"
#include "pacs_server_fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

using dm2::test::old_pacs_server;

struct run_result {
  int code = -1;
  std::string out, err;
};

class pacs_cli_test : public ::testing::Test {
 protected:
  void SetUp() override { DM2_REQUIRE_PRIVATE_NETWORK(); }
  run_result dm2(std::vector<std::string> args) {
    dm2::test::child_process p(DM2_CLI, args, dir_.path(), "dm2-" + std::to_string(++runs_));
    auto code = p.wait(std::chrono::seconds(120));
    return {code.value_or(-1), p.stdout_text(), p.stderr_text()};
  }
  std::vector<std::string> pacs_flags(const old_pacs_server& server) const {
    auto s = server.settings();
    return {"--host",    s.host,
            "--port",    std::to_string(s.port),
            "--aet",     s.calling_ae_title,
            "--aec",     s.called_ae_title,
            "--timeout", "20"};
  }
  dm2::test::temp_dir dir_{"dm2-pacs-cli"};
  int runs_ = 0;
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(pacs_cli_test, colour_series_is_a_local_limitation_not_a_pacs_failure) {
  const auto data = dm2::test::pydicom_test_files();
  if (data.empty()) GTEST_SKIP() << "python3-pydicom's test files are missing";
  old_pacs_server server;
  ASSERT_EQ(server.add({data / "SC_rgb_rle.dcm"}), "");
  ASSERT_EQ(server.start(), "");
  // The study and series UIDs, as a user would look them up.
  auto find_args =
      std::vector<std::string>{"pacs", "find", "-l", "image", "-k", "SOPInstanceUID=*", "--json"};
  for (const auto& f : pacs_flags(server)) find_args.push_back(f);
  auto found = dm2(find_args);
  ASSERT_EQ(found.code, 0) << found.err;
  auto pick = [&](const std::string& key) {
    auto at = found.out.find("\"" + key + "\": \"");
    EXPECT_NE(at, std::string::npos) << found.out;
    at += key.size() + 5;
    return found.out.substr(at, found.out.find('"', at) - at);
  };
  const auto out = dir_ / "colour";
  auto args = std::vector<std::string>{"pacs",     "fetch",
                                       "--study",  pick("StudyInstanceUID"),
                                       "--series", pick("SeriesInstanceUID"),
                                       "-o",       out.string(),
                                       "--nifti"};
  for (const auto& f : pacs_flags(server)) args.push_back(f);
  auto r = dm2(args);
  EXPECT_EQ(r.code, 6) << r.err;  // not 5: the PACS did its part
  EXPECT_NE(r.err.find("limitation of dm2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("NOT de-identified"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out / "volume.nii"));
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(out))
    files += e.path().extension() == ".dcm";
  EXPECT_EQ(files, 1u);  // the fetched file stays
}

TEST_F(pacs_cli_test, failed_fetch_leaves_no_output_directory) {
  old_pacs_server server;
  ASSERT_EQ(server.start(), "");
  const auto out = dir_ / "new" / "series";
  auto args = std::vector<std::string>{"pacs",     "fetch",   "--study", "1.2.3",
                                       "--series", "1.2.3.4", "-o",      out.string()};
  for (const auto& f : pacs_flags(server)) args.push_back(f);
  auto r = dm2(args);
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "new")) << "the directories the fetch created stay";
  // A directory that existed before is left as it was.
  std::filesystem::create_directories(dir_ / "mine");
  args[7] = (dir_ / "mine").string();
  r = dm2(args);
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_TRUE(std::filesystem::is_directory(dir_ / "mine"));
}

TEST_F(pacs_cli_test, deidentify_writes_basic_profile_copies) {
  std::filesystem::create_directories(dir_ / "in");
  dm2::test::synthetic_options o;
  o.slices = 3;
  o.rows = o.columns = 8;
  o.patient_name = "CANARY^OLDPACS";
  o.patient_id = "CANARY-ID-77";
  auto s = dm2::test::write_synthetic_series(dir_ / "in", o);
  std::ofstream(dir_ / "in" / "notes.txt") << "not DICOM";
  const std::string secret = "a consortium secret of some length";
  std::ofstream(dir_ / "secret") << secret << '\n';

  auto r = dm2({"pacs", "deidentify", (dir_ / "in").string(), "-o", (dir_ / "out").string(),
                "--secret-file", (dir_ / "secret").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3 files de-identified"), std::string::npos) << r.out;
  for (const auto& uid : s.sop_uids) {
    const auto file = dir_ / "out" / (remap_uid(secret, uid) + ".dcm");
    ASSERT_TRUE(std::filesystem::exists(file)) << "named after the remapped UID";
    const auto bytes = read_all(file);
    EXPECT_EQ(bytes.find("CANARY"), std::string::npos);
    EXPECT_EQ(bytes.find(uid), std::string::npos);
    EXPECT_NE(bytes.find("YES"), std::string::npos);  // PatientIdentityRemoved
  }
  // A short secret is refused before anything is written.
  std::ofstream(dir_ / "short") << "short";
  r = dm2({"pacs", "deidentify", (dir_ / "in").string(), "-o", (dir_ / "out2").string(),
           "--secret-file", (dir_ / "short").string()});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out2"));
  // A named file that is not DICOM: an error, and nothing of the run stays.
  r = dm2({"pacs", "deidentify", s.files[0].string(), (dir_ / "in" / "notes.txt").string(), "-o",
           (dir_ / "out3").string(), "--secret-file", (dir_ / "secret").string()});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out3"));
}

}  // namespace
}  // namespace dm2::pacs
