// Group commit of audit entries on a real RocksDB: many concurrent callers, fewer syncs, every
// acknowledged entry in the chain, one bad entry failing only its own caller, and one caller's
// many entries committed together.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "audit_log.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

std::unique_ptr<storage::database> open_db(const std::filesystem::path& dir) {
  auto pem = crypto::generate_private_key(crypto::key_type::ed25519);
  auto signer = storage::ed25519_audit_signer(*pem);
  auto db = storage::database::open(dir, crypto::random_bytes(32), {}, *signer);
  EXPECT_TRUE(db) << db.err().message;
  return std::move(*db);
}

TEST(audit_log, concurrent_appends_share_commits_and_all_land_in_the_chain) {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  audit_log log(*db);
  constexpr int threads = 16, each = 40;
  std::atomic<int> failed{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < each; ++i)
        if (!log.append({0, "site:s" + std::to_string(t), "record_get", std::to_string(i), "allowed", ""})) ++failed;
    });
  for (auto& t : pool) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(log.entries(), std::size_t{threads * each});
  EXPECT_LT(log.commits(), log.entries());  // at least some callers shared a sync
  auto report = db->verify_audit();
  ASSERT_TRUE(report) << report.err().message;
  EXPECT_TRUE(report->ok()) << report->reason;
  EXPECT_EQ(report->entries, std::uint64_t{threads * each});
}

TEST(audit_log, an_entry_the_store_refuses_fails_alone) {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  audit_log log(*db);
  std::atomic<int> good_failed{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < 20; ++i)
        if (!log.append({0, "site:a", "record_get", "x", "allowed", ""})) ++good_failed;
    });
  auto bad = log.append({0, "site:a", "record_get", std::string(1 << 20, 'x'), "allowed", ""});
  for (auto& t : pool) t.join();
  EXPECT_FALSE(bad);
  EXPECT_EQ(good_failed.load(), 0);
  auto report = db->verify_audit();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->entries, 160u);
  EXPECT_EQ(log.entries(), 160u);  // the refused entry is not counted
}

// A stage-2 request's decisions: appended together, in one commit, in order, while other
// callers append one at a time; a unit the store refuses fails whole, the others stand.
TEST(audit_log, many_entries_of_one_caller_land_in_one_commit_in_order) {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  audit_log log(*db);
  std::vector<storage::audit_event> decisions;
  for (int i = 0; i < 50; ++i) decisions.push_back({0, "site:s2", "similarity_score", std::to_string(i), "allowed", ""});
  ASSERT_TRUE(log.append_all(decisions));
  EXPECT_EQ(log.commits(), 1u);
  EXPECT_EQ(log.entries(), 50u);
  for (std::uint64_t i = 0; i < 50; ++i) {
    auto e = db->read_audit(i);
    ASSERT_TRUE(e && *e);
    EXPECT_EQ((**e).event.object, std::to_string(i));
  }
  EXPECT_TRUE(log.append_all({}));  // nothing to write: no commit
  EXPECT_EQ(log.commits(), 1u);
  auto refused = decisions;
  refused[7].object = std::string(1 << 20, 'x');
  std::thread other([&] { EXPECT_TRUE(log.append({0, "site:a", "record_get", "y", "allowed", ""})); });
  EXPECT_FALSE(log.append_all(refused));
  other.join();
  auto report = db->verify_audit();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << report->reason;
  EXPECT_EQ(report->entries, 51u);  // none of the refused unit's 50
  EXPECT_EQ(log.entries(), 51u);
}

}  // namespace
}  // namespace dm2::node
