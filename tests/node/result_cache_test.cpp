// The stage-2 result cache with provenance on a real RocksDB in a temporary folder: keys that
// change with every input's version, reuse, copies kept from owners, pruning by count and by
// age, and what survives a reopen; the provenance record's strict reader.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/database.hpp"
#include "provenance/result_cache.hpp"
#include "provenance_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

using testing::provenance_of;

const std::string lfn(32, 'a'), digest(64, 'e');
constexpr std::int64_t t0 = 1'764'000'000'000;

struct opened {
  std::unique_ptr<storage::database> db;
  std::unique_ptr<result_cache> cache;
};

opened open_at(const test::temp_dir& dir, const std::string& storage_key, result_cache_limits limits = {}) {
  auto db = storage::database::open(dir / "db", storage_key);
  EXPECT_TRUE(db) << db.err().message;
  auto cache = result_cache::open(**db, limits);
  EXPECT_TRUE(cache) << cache.err().message;
  return {std::move(*db), std::move(*cache)};
}

// Stores one computed score; `p` gets its id.
status store_one(result_cache& cache, const std::string& key, provenance_record& p, std::int64_t now_ms) {
  std::vector<result_cache::computed> one{{key, p}};
  auto s = cache.store(one, now_ms);
  p = one[0].record;
  return s;
}

TEST(result_cache, a_key_changes_with_every_input_and_version) {
  auto key = result_cache::key_of("mi", "1", digest, lfn, 3);
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, result_cache::key_of("mi", "1", digest, lfn, 3));
  EXPECT_NE(key, result_cache::key_of("mi", "1", digest, lfn, 4));               // a new series version
  EXPECT_NE(key, result_cache::key_of("mi", "2", digest, lfn, 3));               // a new measure version
  EXPECT_NE(key, result_cache::key_of("cr", "1", digest, lfn, 3));               // another measure
  EXPECT_NE(key, result_cache::key_of("mi", "1", std::string(64, 'd'), lfn, 3));  // another query volume
  EXPECT_NE(key, result_cache::key_of("mi", "1", digest, std::string(32, 'b'), 3));
}

TEST(result_cache, a_stored_score_is_found_by_key_and_id_and_a_new_version_misses_it) {
  test::temp_dir dir;
  auto s = open_at(dir, crypto::random_bytes(32));
  auto p = provenance_of(lfn, 0.74, 3, "site-2");
  const auto key = result_cache::key_of("mi", "1", digest, lfn, 3);
  ASSERT_TRUE(s.cache->lookup(key)->has_value() == false);
  ASSERT_TRUE(store_one(*s.cache, key, p, t0));
  EXPECT_TRUE(is_provenance_id(p.id));
  EXPECT_NE(p.id, provenance_of(lfn, 0.74, 3, "site-2").id);  // a fresh random id
  auto hit = s.cache->lookup(key);
  ASSERT_TRUE(hit && *hit);
  EXPECT_EQ(encode_provenance(**hit), encode_provenance(p));
  auto by_id = s.cache->find(p.id);
  ASSERT_TRUE(by_id && *by_id);
  EXPECT_EQ((*by_id)->score, 0.74);
  // The series re-ingested (version 4): no hit; the old entry still answers by id.
  EXPECT_FALSE(*s.cache->lookup(result_cache::key_of("mi", "1", digest, lfn, 4)));
  EXPECT_FALSE(*s.cache->lookup(result_cache::key_of("mi", "2", digest, lfn, 3)));
  EXPECT_TRUE(*s.cache->find(p.id));
  EXPECT_FALSE(*s.cache->find(std::string(32, '9')));
  EXPECT_EQ(s.cache->size(), 1u);
}

TEST(result_cache, a_request_s_scores_stored_in_one_commit_survive_a_reopen_and_a_new_version_of_one_misses_only_it) {
  test::temp_dir dir;
  const auto storage_key = crypto::random_bytes(32);
  std::vector<result_cache::computed> batch;
  for (char c : std::string("abc")) {
    const std::string l(32, c);
    batch.push_back({result_cache::key_of("mi", "1", digest, l, 1), provenance_of(l, 0.5, 1, "site-2")});
  }
  {
    auto s = open_at(dir, storage_key);
    ASSERT_TRUE(s.cache->store(batch, t0));
    EXPECT_EQ(s.cache->size(), 3u);
  }
  auto s = open_at(dir, storage_key);  // durable once stored
  EXPECT_EQ(s.cache->size(), 3u);
  std::set<std::string> ids;
  for (const auto& [key, p] : batch) {
    EXPECT_TRUE(is_provenance_id(p.id));
    ids.insert(p.id);
    auto hit = s.cache->lookup(key);
    ASSERT_TRUE(hit && *hit);
    EXPECT_EQ(encode_provenance(**hit), encode_provenance(p));
  }
  EXPECT_EQ(ids.size(), 3u);  // an id of its own each
  // Series 'b' re-ingested (version 2): its key misses, the others still hit; its old record answers by id.
  EXPECT_FALSE(*s.cache->lookup(result_cache::key_of("mi", "1", digest, std::string(32, 'b'), 2)));
  EXPECT_TRUE(*s.cache->lookup(batch[0].key));
  EXPECT_TRUE(*s.cache->lookup(batch[2].key));
  EXPECT_TRUE(*s.cache->find(batch[1].record.id));
  std::vector<result_cache::computed> empty;
  EXPECT_TRUE(s.cache->store(empty, t0));
  EXPECT_EQ(s.cache->size(), 3u);
}

TEST(result_cache, copies_from_owners_are_kept_once_and_never_replace_a_record_computed_here) {
  test::temp_dir dir;
  auto s = open_at(dir, crypto::random_bytes(32));
  auto mine = provenance_of(lfn, 0.5, 1, "site-1");
  ASSERT_TRUE(store_one(*s.cache, result_cache::key_of("mi", "1", digest, lfn, 1), mine, t0));
  auto copy = provenance_of(std::string(32, 'b'), 0.9, 2, "site-2");
  auto forged = provenance_of(std::string(32, 'c'), 0.1, 1, "site-2");
  forged.id = mine.id;  // a peer naming one of this site's ids
  ASSERT_TRUE(s.cache->keep({copy, forged}, t0 + 1));
  ASSERT_TRUE(s.cache->keep({copy}, t0 + 2));  // the same score reused by a later query
  EXPECT_EQ(s.cache->size(), 2u);
  EXPECT_EQ((*s.cache->find(copy.id))->computed_by, "site-2");
  EXPECT_EQ((*s.cache->find(mine.id))->lfn, lfn);
}

TEST(result_cache, the_oldest_entries_go_beyond_the_count_and_past_the_age_and_the_rest_survives_a_reopen) {
  test::temp_dir dir;
  const auto storage_key = crypto::random_bytes(32);
  result_cache_limits limits;
  limits.max_entries = 3;
  limits.max_age = std::chrono::milliseconds(60'000);
  std::vector<provenance_record> stored;
  std::vector<std::string> keys;
  {
    auto s = open_at(dir, storage_key, limits);
    for (std::uint64_t v = 1; v <= 5; ++v) {
      keys.push_back(result_cache::key_of("mi", "1", digest, lfn, v));
      stored.push_back(provenance_of(lfn, 0.1 * static_cast<double>(v), v, "site-1"));
      ASSERT_TRUE(store_one(*s.cache, keys.back(), stored.back(), t0 + static_cast<std::int64_t>(v)));
    }
    EXPECT_EQ(s.cache->size(), 3u);
    for (std::size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(s.cache->lookup(keys[i])->has_value(), i >= 2) << i;
      EXPECT_EQ(s.cache->find(stored[i].id)->has_value(), i >= 2) << i;
    }
  }
  auto s = open_at(dir, storage_key, limits);
  EXPECT_EQ(s.cache->size(), 3u);
  EXPECT_TRUE(*s.cache->lookup(keys[4]));
  // A minute later every older entry is past its age: only the new one stays.
  auto later = provenance_of(lfn, 0.9, 6, "site-1");
  ASSERT_TRUE(store_one(*s.cache, result_cache::key_of("mi", "1", digest, lfn, 6), later, t0 + 5 + 60'001));
  EXPECT_EQ(s.cache->size(), 1u);
  EXPECT_FALSE(*s.cache->lookup(keys[4]));
  EXPECT_TRUE(*s.cache->find(later.id));
}

TEST(provenance_record, round_trips_and_refuses_what_is_not_one) {
  auto p = provenance_of(lfn, 0.25, 7, "site-2");
  auto back = parse_provenance(encode_provenance(p));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(encode_provenance(*back), encode_provenance(p));
  auto with = [&](auto change) {
    auto q = p;
    change(q);
    return parse_provenance(encode_provenance(q));
  };
  EXPECT_FALSE(with([](provenance_record& q) { q.id = "X" + q.id.substr(1); }));
  EXPECT_FALSE(with([](provenance_record& q) { q.lfn = q.lfn.substr(1); }));
  EXPECT_FALSE(with([](provenance_record& q) { q.query_volume_sha256 = "short"; }));
  EXPECT_FALSE(with([](provenance_record& q) { q.computed_by = "site 2\n"; }));
  EXPECT_FALSE(with([](provenance_record& q) { q.parameters.emplace_back("bins", std::string(200, 'x')); }));
  EXPECT_FALSE(with([](provenance_record& q) { q.first_query = ""; }));
  EXPECT_FALSE(parse_provenance("[]"));
  EXPECT_FALSE(parse_provenance(R"({"id":"00"})"));
  auto extra = nlohmann::json::parse(encode_provenance(p));
  extra["more"] = 1;
  EXPECT_FALSE(parse_provenance(extra.dump()));
}

}  // namespace
}  // namespace dm2::node
