#include "dm2/storage/database.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "fixtures.hpp"
#include "raw_db.hpp"
#include "support/temp_dir.hpp"

namespace dm2::storage {
namespace {

const std::string key = std::string(32, '\x11');

TEST(database, values_survive_reopen_and_are_not_stored_in_clear) {
  dm2::test::temp_dir dir;
  const family families[] = {family::nominative, family::key_shares, family::dht_items};
  {
    auto db = database::open(dir / "db", key);
    ASSERT_TRUE(db.ok()) << db.err().to_string();
    for (family f : families) ASSERT_TRUE((*db)->put(f, "k", "secret " + std::string(name_of(f))).ok());
  }
  {
    test::raw_db raw(dir / "db");
    for (family f : families) {
      auto stored = raw.get(f, "k");
      ASSERT_TRUE(stored);
      EXPECT_EQ(stored->find("secret"), std::string::npos);
    }
  }
  auto db = database::open(dir / "db", key);
  ASSERT_TRUE(db.ok());
  for (family f : families) {
    auto v = (*db)->get(f, "k");
    ASSERT_TRUE(v.ok()) << v.err().to_string();
    ASSERT_TRUE(v->has_value());
    EXPECT_EQ(**v, "secret " + std::string(name_of(f)));
  }
  auto absent = (*db)->get(family::nominative, "nothing");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST(database, one_flipped_bit_anywhere_in_a_stored_value_is_an_integrity_failure) {
  // One stored value per bit position (all written in one transaction), each with its bit flipped.
  dm2::test::temp_dir dir;
  const std::string plaintext = "sealed record";
  const std::size_t sealed_size = 1 + crypto::aead_overhead + plaintext.size();
  auto name = [](std::size_t bit) { return "k" + std::to_string(bit); };
  {
    auto db = database::open(dir / "db", key);
    ASSERT_TRUE(db.ok());
    transaction t;
    for (std::size_t bit = 0; bit < sealed_size * 8; ++bit) t.put(family::nominative, name(bit), plaintext);
    ASSERT_TRUE((*db)->commit(std::move(t)).ok());
  }
  {
    test::raw_db raw(dir / "db");
    for (std::size_t bit = 0; bit < sealed_size * 8; ++bit) {
      auto v = *raw.get(family::nominative, name(bit));
      ASSERT_EQ(v.size(), sealed_size);
      v[bit / 8] = static_cast<char>(v[bit / 8] ^ (1 << (bit % 8)));
      raw.put(family::nominative, name(bit), v);
    }
  }
  auto db = database::open(dir / "db", key);
  ASSERT_TRUE(db.ok());
  for (std::size_t bit = 0; bit < sealed_size * 8; ++bit) {
    auto v = (*db)->get(family::nominative, name(bit));
    ASSERT_FALSE(v.ok()) << "bit " << bit;
    EXPECT_EQ(v.err().code, errc::integrity_failure);
  }
}

TEST(database, a_value_moved_to_another_key_or_family_does_not_open) {
  dm2::test::temp_dir dir;
  { ASSERT_TRUE((*database::open(dir / "db", key))->put(family::nominative, "a", "value").ok()); }
  {
    test::raw_db raw(dir / "db");
    auto v = *raw.get(family::nominative, "a");
    raw.put(family::nominative, "b", v);
    raw.put(family::key_shares, "a", v);
  }
  auto db = database::open(dir / "db", key);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->get(family::nominative, "b").err().code, errc::integrity_failure);
  EXPECT_EQ((*db)->get(family::key_shares, "a").err().code, errc::integrity_failure);
  EXPECT_TRUE((*db)->get(family::nominative, "a").ok());
}

TEST(database, scans_stream_values_by_prefix_and_records_in_lfn_order) {
  dm2::test::temp_dir dir;
  auto db = database::open(dir / "db", key, {}, test::make_signer());
  ASSERT_TRUE(db.ok()) << db.err().to_string();
  for (std::string k : {"a/1", "a/2", "b/1", "a"}) ASSERT_TRUE((*db)->put(family::key_shares, k, "v" + k));
  std::vector<std::string> seen;
  ASSERT_TRUE((*db)->for_each_value(family::key_shares, "a/", [&](std::string_view k, std::string_view v) {
    seen.push_back(std::string(k) + "=" + std::string(v));
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"a/1=va/1", "a/2=va/2"}));
  int calls = 0;
  ASSERT_TRUE((*db)->for_each_value(family::key_shares, "", [&](std::string_view, std::string_view) {
    return ++calls < 2;  // stops early
  }));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ((*db)->for_each_value(family::index_records, "", {}).err().code, errc::invalid_argument);
  EXPECT_EQ(*(*db)->count_keys(family::key_shares), 4u);

  auto a = test::sample_record(std::string(lfn_size, '')), b = test::sample_record(std::string(lfn_size, ''));
  transaction t;
  t.put_index_record(a);
  t.put_index_record(b);
  ASSERT_TRUE((*db)->commit(std::move(t)));
  std::vector<index_record> records;
  ASSERT_TRUE((*db)->for_each_index_record([&](const index_record& r) {
    records.push_back(r);
    return true;
  }));
  EXPECT_EQ(records, (std::vector<index_record>{b, a}));
  EXPECT_EQ(*(*db)->count_keys(family::index_records), 2u);
}

TEST(database, wrong_storage_key_is_refused_at_open) {
  dm2::test::temp_dir dir;
  { ASSERT_TRUE(database::open(dir / "db", key).ok()); }
  auto wrong = database::open(dir / "db", std::string(32, '\x12'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.err().code, errc::integrity_failure);
  auto short_key = database::open(dir / "db", std::string(16, 'x'));
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.err().code, errc::invalid_argument);
}

TEST(database, a_newer_schema_is_refused_not_downgraded) {
  dm2::test::temp_dir dir;
  { ASSERT_TRUE(database::open(dir / "db", key).ok()); }
  { test::raw_db(dir / "db").put(family::node_meta, "dm2.schema_version", std::string("\0\0\0\0\0\0\0\x02", 8)); }
  auto db = database::open(dir / "db", key);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.err().code, errc::unsupported);
  EXPECT_NE(db.err().message.find("downgrade"), std::string::npos);
}

TEST(database, families_with_invariants_refuse_plain_puts) {
  dm2::test::temp_dir dir;
  auto db = database::open(dir / "db", key);
  ASSERT_TRUE(db.ok());
  for (family f : {family::index_records, family::record_index, family::audit})
    EXPECT_EQ((*db)->put(f, "k", "v").err().code, errc::invalid_argument);
  EXPECT_EQ((*db)->put(family::node_meta, "dm2.key_check", "v").err().code, errc::invalid_argument);
  EXPECT_TRUE((*db)->put(family::node_meta, "site_name", "a").ok());
}

TEST(database, second_open_of_a_locked_database_fails_clearly) {
  dm2::test::temp_dir dir;
  auto first = database::open(dir / "db", key);
  ASSERT_TRUE(first.ok());
  auto second = database::open(dir / "db", key);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.err().code, errc::storage_failure);
  EXPECT_NE(second.err().message.find("lock"), std::string::npos) << second.err().message;
}

TEST(database, missing_database_is_not_created_when_asked_not_to) {
  dm2::test::temp_dir dir;
  auto db = database::open(dir / "db", key, database_options{.create_if_missing = false});
  EXPECT_FALSE(db.ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "db" / "CURRENT"));
}

}  // namespace
}  // namespace dm2::storage
