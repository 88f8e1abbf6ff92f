#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "dm2/storage/database.hpp"
#include "fixtures.hpp"
#include "raw_db.hpp"
#include "support/temp_dir.hpp"

namespace dm2::storage {
namespace {

const std::string key = std::string(32, '\x21');

class transactions : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen() {
    db.reset();
    auto opened = database::open(dir / "db", key, {}, signer);
    ASSERT_TRUE(opened.ok()) << opened.err().to_string();
    db = std::move(*opened);
  }
  std::vector<std::string> lfns(const index_filter& f) {
    auto found = db->query(f);
    EXPECT_TRUE(found.ok()) << found.err().to_string();
    std::vector<std::string> out;
    if (found.ok())
      for (auto& r : *found) out.push_back(r.lfn);
    std::sort(out.begin(), out.end());
    return out;
  }
  dm2::test::temp_dir dir;
  audit_signer signer = test::make_signer();
  std::unique_ptr<database> db;
};

TEST_F(transactions, a_commit_writes_every_family_at_once) {
  auto r = test::sample_record();
  transaction t;
  t.put_index_record(r);
  t.put(family::nominative, r.lfn, "sealed nominative");
  t.put(family::key_shares, r.lfn + "/1", "share");
  t.append_audit({0, "node", "ingest", "lfn", "allowed", ""});
  ASSERT_TRUE(db->commit(std::move(t)).ok());
  reopen();
  EXPECT_EQ(**db->get_index_record(r.lfn), r);
  EXPECT_EQ(**db->get(family::nominative, r.lfn), "sealed nominative");
  EXPECT_EQ(**db->get(family::key_shares, r.lfn + "/1"), "share");
  EXPECT_EQ(db->audit_size(), 1u);
  EXPECT_TRUE(db->verify_audit()->ok());
}

TEST_F(transactions, a_failing_commit_writes_nothing) {
  auto r = test::sample_record(crypto::random_bytes(16), 5);
  transaction first;
  first.put_index_record(r);
  ASSERT_TRUE(db->commit(std::move(first)).ok());

  auto older = r;
  older.version = 4;
  older.attributes.modality = "MR";
  transaction t;
  t.put(family::nominative, "n", "x");
  t.append_audit({0, "node", "update", "lfn", "allowed", ""});
  t.put_index_record(older);
  auto s = db->commit(std::move(t));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, errc::stale_version);
  EXPECT_FALSE(db->get(family::nominative, "n")->has_value());
  EXPECT_EQ(db->audit_size(), 0u);
  EXPECT_EQ(**db->get_index_record(r.lfn), r);
  EXPECT_TRUE(lfns({.modality = "MR"}).empty());

  transaction bad;
  bad.put(family::nominative, "n", "x");
  auto invalid = test::sample_record();
  invalid.attributes.sex = "?";
  bad.put_index_record(invalid);
  EXPECT_EQ(db->commit(std::move(bad)).err().code, errc::malformed_input);
  EXPECT_FALSE(db->get(family::nominative, "n")->has_value());
}

TEST_F(transactions, put_if_newer_never_lets_an_older_version_overwrite) {
  auto v2 = test::sample_record(crypto::random_bytes(16), 2);
  ASSERT_TRUE(*db->put_if_newer(v2));
  auto v1 = v2;
  v1.version = 1;
  v1.attributes.modality = "MR";
  EXPECT_FALSE(*db->put_if_newer(v1));
  EXPECT_FALSE(*db->put_if_newer(v2));  // same record again: nothing to do
  auto tie = v2;
  tie.owner_signature = std::string(64, '\x01');  // smaller: loses the tiebreak
  EXPECT_FALSE(*db->put_if_newer(tie));
  tie.owner_signature = std::string(64, '\x09');  // greater: wins it
  EXPECT_TRUE(*db->put_if_newer(tie));
  EXPECT_EQ(**db->get_index_record(v2.lfn), tie);
  auto v3 = v2;
  v3.version = 3;
  v3.attributes.modality = "MR";
  EXPECT_TRUE(*db->put_if_newer(v3));
  EXPECT_EQ((*db->get_index_record(v2.lfn))->version, 3u);
  EXPECT_TRUE(db->check_indexes().ok());
}

TEST_F(transactions, indexes_follow_updates_and_deletes) {
  std::vector<index_record> records;
  for (int i = 0; i < 30; ++i) {
    auto r = test::sample_record();
    r.attributes.modality = i % 3 == 0 ? "MR" : "CT";
    r.attributes.study_date = "202401" + std::string(i < 9 ? "0" : "") + std::to_string(i + 1);
    r.attributes.manufacturer = i % 2 ? "GE" : "SIEMENS";
    records.push_back(r);
    transaction t;
    t.put_index_record(r);
    ASSERT_TRUE(db->commit(std::move(t)).ok());
  }
  EXPECT_EQ(lfns({.modality = "MR"}).size(), 10u);
  EXPECT_EQ(lfns({.modality = "CT", .manufacturer = "GE"}).size(), 10u);
  EXPECT_EQ(lfns({.study_date = date_range{"20240105", "20240114"}}).size(), 10u);
  EXPECT_EQ(lfns({.modality = "MR", .study_date = date_range{"20240101", "20240110"}}).size(), 4u);
  EXPECT_EQ(lfns({}).size(), 30u);
  EXPECT_TRUE(lfns({.modality = "PT"}).empty());
  EXPECT_TRUE(lfns({.modality = ""}).empty());

  // Update: every MR becomes PT with a later date; delete five CTs.
  for (auto& r : records) {
    if (r.attributes.modality != "MR") continue;
    r.version++;
    r.attributes.modality = "PT";
    r.attributes.study_date = "20250101";
    transaction t;
    t.put_index_record(r);
    ASSERT_TRUE(db->commit(std::move(t)).ok());
  }
  int erased = 0;
  for (auto& r : records) {
    if (r.attributes.modality != "CT" || erased == 5) continue;
    transaction t;
    t.erase_index_record(r.lfn);
    ASSERT_TRUE(db->commit(std::move(t)).ok());
    r.attributes.modality = "gone";
    ++erased;
  }
  reopen();
  EXPECT_TRUE(lfns({.modality = "MR"}).empty());
  EXPECT_EQ(lfns({.modality = "PT"}).size(), 10u);
  EXPECT_EQ(lfns({.modality = "CT"}).size(), 15u);
  EXPECT_EQ(lfns({.study_date = date_range{"20250101", "20250101"}}).size(), 10u);
  EXPECT_EQ(lfns({.study_date = date_range{"20240101", "20241231"}}).size(), 15u);
  EXPECT_EQ(lfns({}).size(), 25u);
  EXPECT_TRUE(db->check_indexes().ok());
  auto limited = db->query({.modality = "CT", .limit = 3});
  EXPECT_EQ(limited->size(), 3u);
  EXPECT_EQ(db->query({.study_date = date_range{"2024", "2025"}}).err().code, errc::invalid_argument);
}

TEST_F(transactions, diagnosis_codes_are_indexed_by_code_and_category) {
  auto infarct = test::sample_record(), septal = test::sample_record(), none = test::sample_record();
  infarct.diagnoses = {{"I21.4", "20261202", false}, {"I21.0", "20261202", true}};
  septal.diagnoses = {{"Q21.1", "20261202", false}, {"", "20261203", true}};
  for (const auto& r : {infarct, septal, none}) {
    transaction t;
    t.put_index_record(r);
    ASSERT_TRUE(db->commit(std::move(t)).ok());
  }
  EXPECT_EQ(lfns({.diagnosis_code = "I21.4"}), std::vector<std::string>{infarct.lfn});
  EXPECT_EQ(lfns({.diagnosis_code = "I21"}), std::vector<std::string>{infarct.lfn});
  EXPECT_EQ(lfns({.modality = "CT", .diagnosis_code = "Q21"}), std::vector<std::string>{septal.lfn});
  EXPECT_TRUE(lfns({.diagnosis_code = "I50"}).empty());
  EXPECT_TRUE(matches(infarct, {.diagnosis_code = "I21"}));
  EXPECT_FALSE(matches(none, {.diagnosis_code = "I21"}));
  // A new version without the code leaves the index with it.
  infarct.version++;
  infarct.diagnoses = {{"I25.2", "20261204", false}};
  transaction t;
  t.put_index_record(infarct);
  ASSERT_TRUE(db->commit(std::move(t)).ok());
  EXPECT_TRUE(lfns({.diagnosis_code = "I21"}).empty());
  EXPECT_EQ(lfns({.diagnosis_code = "I25"}), std::vector<std::string>{infarct.lfn});
  EXPECT_TRUE(db->check_indexes().ok());
}

TEST_F(transactions, a_stale_replica_is_skipped_while_the_rest_commits) {
  auto r = test::sample_record(crypto::random_bytes(16), 7);
  ASSERT_TRUE(*db->put_if_newer(r));
  auto stale = r;
  stale.version = 6;
  auto fresh = test::sample_record();
  transaction t;
  t.put_index_record(stale, on_stale::skip);
  t.put_index_record(fresh, on_stale::skip);
  ASSERT_TRUE(db->commit(std::move(t)).ok());
  EXPECT_EQ((*db->get_index_record(r.lfn))->version, 7u);
  EXPECT_TRUE(db->get_index_record(fresh.lfn)->has_value());
}

TEST_F(transactions, index_tampering_is_found_by_check_indexes) {
  auto r = test::sample_record();
  ASSERT_TRUE(*db->put_if_newer(r));
  ASSERT_TRUE(db->check_indexes().ok());
  db.reset();
  {
    test::raw_db raw(dir / "db");
    auto entries = raw.all(family::record_index);
    ASSERT_EQ(entries.size(), 8u);  // 6 equality attributes + 2 dates
    raw.erase(family::record_index, entries.begin()->first);
  }
  reopen();
  auto s = db->check_indexes();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, errc::integrity_failure);
  EXPECT_NE(s.err().message.find("1 entries missing"), std::string::npos) << s.err().message;
}

TEST_F(transactions, a_stored_record_copied_under_another_lfn_or_version_does_not_open) {
  auto a = test::sample_record();
  auto b = test::sample_record();
  ASSERT_TRUE(*db->put_if_newer(a));
  ASSERT_TRUE(*db->put_if_newer(b));
  db.reset();
  {
    test::raw_db raw(dir / "db");
    auto stored = *raw.get(family::index_records, a.lfn);
    raw.put(family::index_records, b.lfn, stored);
    stored[8] = static_cast<char>(stored[8] + 1);  // version prefix
    raw.put(family::index_records, a.lfn, stored);
  }
  reopen();
  EXPECT_EQ(db->get_index_record(b.lfn).err().code, errc::integrity_failure);
  EXPECT_EQ(db->get_index_record(a.lfn).err().code, errc::integrity_failure);
}

TEST_F(transactions, only_value_families_are_writable_through_put) {
  transaction t;
  t.put(family::audit, "k", "v");
  EXPECT_EQ(db->commit(std::move(t)).err().code, errc::invalid_argument);
  auto no_signer = database::open(dir / "other", key);
  ASSERT_TRUE(no_signer.ok());
  transaction a;
  a.append_audit({0, "node", "x", "y", "z", ""});
  EXPECT_EQ((*no_signer)->commit(std::move(a)).err().code, errc::invalid_argument);
}

TEST_F(transactions, readers_see_consistent_states_while_commits_run) {
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 40; ++i) {
      auto r = test::sample_record();
      r.attributes.modality = i % 2 ? "CT" : "MR";
      transaction t;
      t.put_index_record(r);
      t.append_audit({0, "node", "ingest", "lfn", "allowed", ""});
      EXPECT_TRUE(db->commit(std::move(t)).ok());
    }
    done = true;
  });
  int rounds = 0;
  while (!done || rounds == 0) {
    auto report = db->verify_audit();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->reason;
    EXPECT_TRUE(db->check_indexes().ok());
    EXPECT_TRUE(db->query({.modality = "CT"}).ok());
    ++rounds;
  }
  writer.join();
  EXPECT_EQ(lfns({.modality = "CT"}).size(), 20u);
  EXPECT_EQ(db->audit_size(), 40u);
}

}  // namespace
}  // namespace dm2::storage
