// Stage 1's index (node/src/stage_one) against the reference it replaces: scoring every held
// record with the query's plan, over random records with filters, owners, ties, missing and odd
// signatures; and kept in step with a real replica store (RocksDB) through new versions,
// replicas gained and handed off, and a restart.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "query_scoring.hpp"
#include "similarity/signature.hpp"
#include "stage_one/stage_one_index.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

const std::string storage_key(32, 'k');


struct site {
  test::temp_dir dir{"dm2-stage-one"};
  std::unique_ptr<storage::database> db;
  std::unique_ptr<dht::storage_replica_store> store;
  std::unique_ptr<stage_one::stage_one_index> index;

  site() { open(); }
  void open() {
    auto signer = *storage::ed25519_audit_signer(*crypto::generate_private_key(crypto::key_type::ed25519));
    auto opened = storage::database::open(dir / "db", storage_key, {}, signer);
    ASSERT_TRUE(opened);
    db = std::move(*opened);
    auto replicas = dht::storage_replica_store::open(*db, {});
    ASSERT_TRUE(replicas);
    store = std::move(*replicas);
    index = std::make_unique<stage_one::stage_one_index>();
    EXPECT_TRUE(index->build(*db).ok());
    store->set_listener(index.get());
  }
  void restart() {
    store.reset();
    index.reset();
    db.reset();
    open();
  }

  // What the query's plan gives by scoring every held record (the path the index replaces).
  std::vector<dht::query_hit> reference(const query_body& q, const dht::query_plan::owner_test& answers_for) {
    auto plan = plan_query(canonical_json(q));
    EXPECT_TRUE(plan);
    if (!plan) return {};
    std::vector<dht::query_hit> hits;
    store->for_each_record([&](const dht::record& r) {
      if (answers_for(r.owner))
        if (auto hit = plan->score(r)) hits.push_back(std::move(*hit));
    });
    std::sort(hits.begin(), hits.end(), dht::ranks_before);
    hits.resize(std::min(hits.size(), q.top_k));
    return hits;
  }
  std::vector<dht::query_hit> indexed(const query_body& q, const dht::query_plan::owner_test& answers_for) {
    auto plan = plan_query(canonical_json(q), *index, *store);
    EXPECT_TRUE(plan && plan->search);
    return plan ? plan->search(answers_for) : std::vector<dht::query_hit>{};
  }
  // The same hits, in the same order, with the same scores (bit for bit) and summaries.
  void expect_same(const query_body& q, const dht::query_plan::owner_test& answers_for, const std::string& what) {
    auto want = reference(q, answers_for), got = indexed(q, answers_for);
    ASSERT_EQ(got.size(), want.size()) << what;
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].lfn, want[i].lfn) << what << " rank " << i;
      EXPECT_EQ(got[i].score, want[i].score) << what << " rank " << i;
      EXPECT_EQ(got[i].owner, want[i].owner) << what << " rank " << i;
      EXPECT_EQ(got[i].summary, want[i].summary) << what << " rank " << i;
    }
  }
};

bool everyone(const std::string&) { return true; }

struct random_records {
  std::mt19937 rng{20261202};
  std::vector<std::vector<float>> shared;  // signatures several records have: exact ties

  std::vector<float> signature(std::size_t dim) {
    std::normal_distribution<float> n;
    std::vector<float> v(dim);
    for (auto& x : v) x = n(rng);
    return v;
  }
  template <typename T>
  const T& pick(const std::vector<T>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  }
  storage::index_record make(std::uint64_t version = 1) {
    storage::index_record r;
    r.lfn = crypto::random_bytes(storage::lfn_size);
    r.version = version;
    r.owner_site = pick<std::string>({"site-a", "site-b", "site-c"});
    r.attributes.modality = pick<std::string>({"CT", "MR", ""});
    r.attributes.body_part = pick<std::string>({"CHEST", "HEART"});
    r.attributes.sex = pick<std::string>({"F", "M", ""});
    r.attributes.age_band = pick<std::string>({"040-049", "050-059"});
    r.attributes.study_date = pick<std::string>({"20200101", "20210615", "20231231", ""});
    r.attributes.series_date = r.attributes.study_date;
    auto d = std::uniform_int_distribution<int>(0, 9)(rng);
    if (d == 0) r.diagnoses = {{"I21.4", "20261202", false}};
    if (d == 1) r.diagnoses = {{"I25.2", "20261202", true}, {"Q21.1", "20261202", false}};
    switch (std::uniform_int_distribution<int>(0, 19)(rng)) {
      case 0: break;                                                     // no signature
      case 1: r.signature = similarity::signature_bytes(signature(8)); break;            // another length
      case 2: r.signature = similarity::signature_bytes(std::vector<float>(16, 3)); break;  // flat
      case 3: r.signature = "abc"; break;                                // not float samples
      case 4: case 5: case 6:                                            // a tie with others
        if (shared.size() < 8) shared.push_back(signature(16));
        r.signature = similarity::signature_bytes(pick(shared));
        break;
      default: r.signature = similarity::signature_bytes(signature(16));
    }
    r.owner_signature = "sig";
    return r;
  }
};

TEST(stage_one_index, ranks_as_scoring_every_record_with_filters_owners_and_ties) {
  site s;
  random_records gen;
  std::vector<dht::record> batch;
  for (int i = 0; i < 2000; ++i) batch.push_back(dht::replica_of(gen.make()));
  ASSERT_EQ(s.store->put_records(batch), batch.size());
  ASSERT_EQ(s.index->size(), batch.size());

  std::vector<std::string> signatures = {similarity::signature_bytes(gen.signature(16)), similarity::signature_bytes(gen.shared[0]),
                                         similarity::signature_bytes(gen.signature(8)), "", similarity::signature_bytes(std::vector<float>(16, 1)),
                                         similarity::signature_bytes(gen.signature(5))};
  std::vector<storage::index_filter> filters(6);
  filters[1].modality = "CT";
  filters[2].sex = "F";
  filters[2].body_part = "HEART";
  filters[3].study_date = storage::date_range{"20210101", "20231231"};
  filters[4].diagnosis_code = "I22";  // no record has it: nothing
  filters[5].diagnosis_code = "I25";
  filters[5].owner_site = "site-b";
  std::vector<std::pair<std::string, dht::query_plan::owner_test>> owners = {
      {"all", everyone},
      {"site-a only", [](const std::string& o) { return o == "site-a"; }},
      {"not site-b", [](const std::string& o) { return o != "site-b"; }}};
  for (std::size_t sig = 0; sig < signatures.size(); ++sig)
    for (std::size_t f = 0; f < filters.size(); ++f)
      for (const auto& [who, test] : owners)
        for (std::size_t k : {1, 7, 500}) {
          query_body q;
          q.signature = signatures[sig];
          q.filters = filters[f];
          q.top_k = k;
          s.expect_same(q, test, "signature " + std::to_string(sig) + " filter " + std::to_string(f) + " " + who +
                                     " top " + std::to_string(k));
        }
}

TEST(stage_one_index, reads_only_the_candidates_it_needs) {
  site s;
  random_records gen;
  std::vector<dht::record> batch;
  for (int i = 0; i < 2000; ++i) batch.push_back(dht::replica_of(gen.make()));
  s.store->put_records(batch);
  query_body q;
  q.signature = similarity::signature_bytes(gen.signature(16));
  q.top_k = 10;
  stage_one::search_stats stats;
  auto hits = s.index->search(q, everyone, q.top_k, [&](const std::string& lfn) -> std::optional<dht::query_hit> {
    auto r = s.store->get_record(lfn);
    return r ? plan_query(canonical_json(q))->score(*r) : std::nullopt;
  }, &stats);
  EXPECT_EQ(hits.size(), 10u);
  EXPECT_GE(stats.scored, 10u);
  EXPECT_LT(stats.scored, 200u);  // of 2,000 records, about 1,700 scored
  EXPECT_EQ(stats.unscored, 0u);
}

TEST(stage_one_index, follows_the_store_through_versions_hand_offs_and_a_restart) {
  site s;
  random_records gen;
  query_body q;
  q.signature = similarity::signature_bytes(gen.signature(16));
  q.top_k = 5;
  auto first = gen.make();
  first.signature = q.signature;  // NCC 1: ranks first
  first.attributes.modality = "CT";
  ASSERT_TRUE(s.store->put_record(dht::replica_of(first)));
  std::vector<dht::record> gained;  // a push from a replica holder
  for (int i = 0; i < 40; ++i) gained.push_back(dht::replica_of(gen.make()));
  s.store->put_records(gained);
  auto top = s.indexed(q, everyone);
  ASSERT_FALSE(top.empty());
  EXPECT_EQ(top[0].lfn, crypto::to_hex(first.lfn));
  s.expect_same(q, everyone, "after the puts");

  // A new version: another signature and modality; an older version changes nothing.
  auto second = first;
  second.version = 2;
  second.signature = similarity::signature_bytes(gen.signature(16));
  second.attributes.modality = "MR";
  ASSERT_TRUE(s.store->put_record(dht::replica_of(second)));
  EXPECT_FALSE(s.store->put_record(dht::replica_of(first)));
  EXPECT_EQ(s.index->size(), 41u);
  EXPECT_NE(s.indexed(q, everyone)[0].lfn, crypto::to_hex(first.lfn));
  s.expect_same(q, everyone, "after a new version");
  query_body ct = q;
  ct.filters.modality = "CT";
  for (const auto& hit : s.indexed(ct, everyone)) EXPECT_NE(hit.lfn, crypto::to_hex(first.lfn));
  s.expect_same(ct, everyone, "filtered after a new version");

  // Handed off: the replicator erases what this site no longer holds.
  for (int i = 0; i < 20; ++i) s.store->erase_record(gained[static_cast<std::size_t>(i)].lfn);
  EXPECT_EQ(s.index->size(), 21u);
  s.expect_same(q, everyone, "after hand-offs");
  // Slots and rows freed by the hand-offs are reused.
  for (int i = 0; i < 20; ++i) s.store->put_record(dht::replica_of(gen.make()));
  s.expect_same(q, everyone, "after reuse");

  auto before = s.indexed(q, everyone);
  s.restart();
  EXPECT_EQ(s.index->size(), 41u);
  auto after = s.indexed(q, everyone);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i].lfn, before[i].lfn);
  s.expect_same(q, everyone, "after a restart");
}

}  // namespace
}  // namespace dm2::node
