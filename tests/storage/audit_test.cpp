#include <gtest/gtest.h>

#include "byte_io.hpp"
#include "dm2/crypto/aead.hpp"
#include "dm2/storage/database.hpp"
#include "fixtures.hpp"
#include "raw_db.hpp"
#include "support/temp_dir.hpp"

namespace dm2::storage {
namespace {

const std::string key = std::string(32, '\x31');

std::string position(std::uint64_t i) { return detail::be64(i); }

class audit_log : public ::testing::Test {
 protected:
  void SetUp() override {
    open();
    for (int i = 0; i < 6; ++i) {
      transaction t;
      t.append_audit({1700000000000 + i, "user:alice", "query", "lfn-" + std::to_string(i), "allowed", "k=3"});
      ASSERT_TRUE(db->commit(std::move(t)).ok());
    }
    auto report = db->verify_audit();
    ASSERT_TRUE(report.ok());
    ASSERT_TRUE(report->ok()) << report->reason;
    ASSERT_EQ(report->entries, 6u);
    db.reset();
  }
  void open() {
    auto opened = database::open(dir / "db", key, {}, signer);
    ASSERT_TRUE(opened.ok()) << opened.err().to_string();
    db = std::move(*opened);
  }
  // Reopens and returns the index verify_audit blames (or -1 when it finds nothing).
  long long first_bad() {
    db.reset();
    open();
    auto report = db->verify_audit();
    EXPECT_TRUE(report.ok());
    last_reason = report->reason;
    return report->first_bad ? static_cast<long long>(*report->first_bad) : -1;
  }
  // Re-encrypts an entry the way only a holder of the storage key could (a stronger attacker).
  static std::string reseal(const audit_entry& e) {
    auto value_key = crypto::hkdf_sha256(key, "dm2 storage", "values", 32);
    detail::byte_writer ad;
    ad.raw("dm2 storage v1\n");
    ad.str8("audit");
    ad.str32(position(e.sequence));
    return std::string(1, '\x01') + *crypto::aead_seal(*value_key, encode_audit_entry(e), ad.bytes());
  }
  audit_entry read(std::uint64_t i) {
    open();
    auto e = **db->read_audit(i);
    db.reset();
    return e;
  }

  dm2::test::temp_dir dir;
  audit_signer signer = test::make_signer();
  std::unique_ptr<database> db;
  std::string last_reason;
};

TEST_F(audit_log, entries_are_chained_signed_and_readable) {
  open();
  auto e0 = **db->read_audit(0);
  auto e1 = **db->read_audit(1);
  EXPECT_EQ(e0.previous_hash, std::string(32, '\0'));
  EXPECT_EQ(e1.previous_hash, chain_hash(e0));
  EXPECT_EQ(e1.event.object, "lfn-1");
  EXPECT_TRUE(signer.verify(signed_payload(e1), e1.signature).ok());
  EXPECT_FALSE(db->read_audit(6)->has_value());
  EXPECT_EQ(first_bad(), -1);
}

TEST_F(audit_log, a_flipped_bit_is_found_at_its_entry) {
  {
    test::raw_db raw(dir / "db");
    auto v = *raw.get(family::audit, position(3));
    v[v.size() / 2] ^= 0x01;
    raw.put(family::audit, position(3), v);
  }
  EXPECT_EQ(first_bad(), 3) << last_reason;
}

TEST_F(audit_log, a_removed_entry_is_found) {
  { test::raw_db(dir / "db").erase(family::audit, position(2)); }
  EXPECT_EQ(first_bad(), 2) << last_reason;
}

TEST_F(audit_log, a_removed_tail_is_found) {
  {
    test::raw_db raw(dir / "db");
    raw.erase(family::audit, position(5));
    raw.erase(family::audit, position(4));
  }
  EXPECT_EQ(first_bad(), 4) << last_reason;
}

TEST_F(audit_log, swapped_entries_are_found) {
  {
    test::raw_db raw(dir / "db");
    auto a = *raw.get(family::audit, position(1));
    auto b = *raw.get(family::audit, position(2));
    raw.put(family::audit, position(1), b);
    raw.put(family::audit, position(2), a);
  }
  EXPECT_EQ(first_bad(), 1) << last_reason;
}

TEST_F(audit_log, reordering_by_an_attacker_holding_the_storage_key_is_found) {
  auto e1 = read(1), e2 = read(2);
  std::swap(e1.sequence, e2.sequence);
  {
    test::raw_db raw(dir / "db");
    raw.put(family::audit, position(1), reseal(e2));
    raw.put(family::audit, position(2), reseal(e1));
  }
  EXPECT_EQ(first_bad(), 1) << last_reason;
}

TEST_F(audit_log, an_inserted_entry_is_found) {
  // Shift entries 3..5 up by one and insert a forged entry at 3, signed with another key.
  std::vector<audit_entry> tail = {read(3), read(4), read(5)};
  audit_entry forged = tail[0];
  forged.event.decision = "denied";
  forged.signature = *test::make_signer().sign(signed_payload(forged));
  {
    test::raw_db raw(dir / "db");
    raw.put(family::audit, position(3), reseal(forged));
    for (auto& e : tail) {
      e.sequence++;
      raw.put(family::audit, position(e.sequence), reseal(e));
    }
  }
  EXPECT_EQ(first_bad(), 3) << last_reason;
}

TEST_F(audit_log, a_changed_event_with_a_recomputed_chain_fails_the_signature) {
  auto e = read(4);
  e.event.decision = "denied";
  { test::raw_db(dir / "db").put(family::audit, position(4), reseal(e)); }
  EXPECT_EQ(first_bad(), 4) << last_reason;
  EXPECT_NE(last_reason.find("signature"), std::string::npos);
}

TEST_F(audit_log, appends_after_reopen_continue_the_chain) {
  open();
  transaction t;
  t.append_audit({0, "node", "repair", "site-b", "done", ""});
  t.append_audit({0, "node", "repair", "site-c", "done", ""});
  ASSERT_TRUE(db->commit(std::move(t)).ok());
  EXPECT_EQ(db->audit_size(), 8u);
  EXPECT_GT((*db->read_audit(7))->event.time_ms, 0);
  db.reset();
  EXPECT_EQ(first_bad(), -1) << last_reason;
}

TEST_F(audit_log, audit_events_are_validated) {
  open();
  transaction t;
  t.append_audit({0, "node", "x", "y", std::string(300, 'd'), ""});
  EXPECT_EQ(db->commit(std::move(t)).err().code, errc::malformed_input);
  EXPECT_EQ(db->audit_size(), 6u);
}

}  // namespace
}  // namespace dm2::storage
