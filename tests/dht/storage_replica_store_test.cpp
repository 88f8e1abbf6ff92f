// storage_replica_store over a real RocksDB database in a temp dir: the record format, the
// newer_than order, durability across reopen, batch atomicity, and replication through it.
#include "dm2/dht/storage_replica_store.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/signature.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/sim/sim_network.hpp"
#include "support/temp_dir.hpp"

namespace dm2::dht {
namespace {

const std::string storage_key(32, 'k');

// The value of a result the test cannot go on without (gtest reports the exception).
template <class T>
T must(result<T> r) {
  if (!r) throw std::runtime_error(r.err().message);
  return std::move(r).value();
}

// One owner site with a real Ed25519 key: records signed over storage::signed_payload.
struct owner_key {
  std::string site = "site-a";
  std::string pem = *crypto::generate_private_key(crypto::key_type::ed25519);
  std::string pub = *crypto::raw_public_key(pem);

  storage::index_record make(std::uint64_t version = 1, std::string lfn = crypto::random_bytes(storage::lfn_size),
                             std::string modality = "CT") const {
    storage::index_record r;
    r.lfn = std::move(lfn);
    r.version = version;
    r.owner_site = site;
    r.attributes = {modality, "CHEST", "SIEMENS", "20240115", "20240116", "F", "040-049"};
    r.signature = std::string(256, '\x2a');
    r.owner_signature = *crypto::sign(pem, storage::signed_payload(r));
    return r;
  }
  storage_replica_store::verifier verifier() const {
    return [pub = pub, site = site](const storage::index_record& r) {
      return r.owner_site == site && crypto::verify(pub, storage::signed_payload(r), r.owner_signature).ok();
    };
  }
};

struct store_fixture {
  test::temp_dir dir{"dm2-replica-store"};
  owner_key owner;
  std::unique_ptr<storage::database> db;
  std::unique_ptr<storage_replica_store> store;

  store_fixture() { open(); }
  void open() {
    db = must(storage::database::open(dir / "db", storage_key, {}, audit_signer()));
    store = must(storage_replica_store::open(*db, owner.verifier()));
  }
  void reopen() {
    store.reset();
    db.reset();
    open();
  }
  static storage::audit_signer audit_signer() {
    auto pem = *crypto::generate_private_key(crypto::key_type::ed25519);
    return *storage::ed25519_audit_signer(pem);
  }
  // Everything the store can have changed: records, index entries, shares and the audit log.
  std::string dump() {
    std::string out;
    EXPECT_TRUE(db->for_each_index_record([&](const storage::index_record& r) {
      out += storage::encode_index_record(r) + '|';
      return true;
    }));
    EXPECT_TRUE(db->for_each_value(storage::family::key_shares, "", [&](std::string_view k, std::string_view v) {
      out += std::string(k) + '=' + std::string(v) + '|';
      return true;
    }));
    out += std::to_string(*db->count_keys(storage::family::record_index)) + '|' + std::to_string(db->audit_size());
    return out;
  }
};

std::vector<record> all_records(const replica_store& s) {
  std::vector<record> out;
  s.for_each_record([&](const record& r) { out.push_back(r); });
  return out;
}

TEST(storage_replica_store, put_get_for_each_erase_and_count) {
  store_fixture f;
  auto a = replica_of(f.owner.make()), b = replica_of(f.owner.make());
  EXPECT_EQ(f.store->record_count(), 0u);
  EXPECT_TRUE(f.store->put_record(a));
  EXPECT_TRUE(f.store->put_record(b));
  EXPECT_FALSE(f.store->put_record(a));  // same record again: not newer
  EXPECT_EQ(f.store->record_count(), 2u);
  auto got = f.store->get_record(a.lfn);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload, a.payload);
  EXPECT_EQ(got->owner, "site-a");
  EXPECT_EQ(all_records(*f.store).size(), 2u);

  f.store->erase_record(a.lfn);
  EXPECT_FALSE(f.store->get_record(a.lfn));
  EXPECT_EQ(f.store->record_count(), 1u);
  f.store->erase_record(a.lfn);  // absent: no change
  EXPECT_EQ(f.store->record_count(), 1u);
  EXPECT_FALSE(f.store->get_record("not-hex"));
  EXPECT_TRUE(f.db->check_indexes());
}

TEST(storage_replica_store, records_and_shares_survive_close_and_reopen) {
  store_fixture f;
  auto a = replica_of(f.owner.make(3));
  ASSERT_TRUE(f.store->put_record(a));
  key_share s1{"key-1", 1, "site-a", "site-b", std::string("sealed\0one", 10), 3, 2};
  key_share s2{"key-1", 2, "site-a", "site-b", "sealed two"};
  key_share s3{"key-10", 1, "site-c", "site-b", "sealed three"};
  for (const auto& s : {s1, s2, s3}) f.store->put_share(s);
  f.store->erase_share("key-1", 2);

  f.reopen();
  EXPECT_EQ(f.store->record_count(), 1u);
  auto got = f.store->get_record(a.lfn);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 3u);
  EXPECT_EQ(got->payload, a.payload);
  std::vector<key_share> shares;
  f.store->for_each_share([&](const key_share& s) { shares.push_back(s); });
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_EQ(shares[0].key_id, "key-1");
  EXPECT_EQ(shares[0].sealed, s1.sealed);
  EXPECT_EQ(shares[0].count, 3u);  // n and t survive too: holders repair with them
  EXPECT_EQ(shares[0].threshold, 2u);
  EXPECT_EQ(shares[1].key_id, "key-10");
  EXPECT_EQ(shares[1].owner, "site-c");
}

// The replicator keeps its share-repair fingerprint while the share generation holds: every
// share written or erased must move it, and records must not.
void expect_share_generation_follows_shares(replica_store& store, const record& r) {
  auto g0 = store.share_generation();
  ASSERT_NE(g0, 0u);
  store.put_share(key_share{"key-1", 1, "site-a", "site-b", "sealed", 3, 2});
  auto g1 = store.share_generation();
  EXPECT_NE(g1, g0);
  EXPECT_TRUE(store.put_record(r));
  EXPECT_EQ(store.share_generation(), g1);
  store.put_share(key_share{"key-1", 1, "site-a", "site-b", "sealed again", 3, 2});  // replaced
  auto g2 = store.share_generation();
  EXPECT_NE(g2, g1);
  store.erase_share("key-1", 1);
  EXPECT_NE(store.share_generation(), g2);
}

TEST(storage_replica_store, the_share_generation_moves_with_every_share_write_and_erase) {
  store_fixture f;
  expect_share_generation_follows_shares(*f.store, replica_of(f.owner.make()));
  memory_replica_store memory;
  expect_share_generation_follows_shares(memory, record{"lfn", 1, "site-a", "payload"});
  // A fresh store (a wiped site in dm2-sim) never repeats the generation a replicator kept.
  EXPECT_NE(memory_replica_store{}.share_generation(), memory.share_generation());
}

// The memory store finds records by hash but walks them in LFN order (digests, indexes and
// query answers follow the walk), freed slots reused; shares walk in (key id, index) order.
TEST(memory_replica_store, walks_in_lfn_order_through_erasures_and_reused_slots) {
  memory_replica_store store;
  for (const auto* lfn : {"c", "a", "b"}) EXPECT_TRUE(store.put_record(record{lfn, 1, "site-a", "x"}));
  store.erase_record("a");
  store.erase_record("a");  // absent: no change
  for (const auto* lfn : {"d", "0"}) EXPECT_TRUE(store.put_record(record{lfn, 1, "site-a", "x"}));
  EXPECT_TRUE(store.put_record(record{"c", 2, "site-a", "y"}));
  EXPECT_FALSE(store.put_record(record{"c", 1, "site-a", "z"}));
  std::vector<std::string> walked;
  store.for_each_summary([&](const record_summary& r) { walked.push_back(r.lfn); });
  EXPECT_EQ(walked, (std::vector<std::string>{"0", "b", "c", "d"}));
  EXPECT_EQ(store.record_count(), 4u);
  EXPECT_FALSE(store.get_record("a"));
  ASSERT_TRUE(store.get_summary("c"));
  EXPECT_EQ(store.get_summary("c")->version, 2u);
  EXPECT_EQ(store.get_record("0")->payload, "x");

  for (const auto& [key_id, index] : std::vector<std::pair<std::string, std::uint32_t>>{{"k2", 1}, {"k1", 3}, {"k1", 1}, {"k10", 2}})
    store.put_share(key_share{key_id, index, "site-a", "site-b", "sealed"});
  store.put_share(key_share{"k1", 3, "site-a", "site-b", "resealed"});
  store.erase_share("k2", 1);
  std::vector<std::pair<std::string, std::uint32_t>> shares;
  store.for_each_share([&](const key_share& s) { shares.emplace_back(s.key_id, s.index); });
  EXPECT_EQ(shares, (std::vector<std::pair<std::string, std::uint32_t>>{{"k1", 1}, {"k1", 3}, {"k10", 2}}));
}

TEST(storage_replica_store, refuses_bad_records_and_changes_nothing) {
  store_fixture f;
  ASSERT_TRUE(f.store->put_record(replica_of(f.owner.make())));
  auto before = f.dump();
  auto good = f.owner.make(2);

  std::vector<std::pair<std::string, record>> bad;
  auto r = replica_of(good);
  r.payload = "not an index record";
  bad.emplace_back("malformed payload", r);
  r = replica_of(good);
  r.payload.push_back('\0');
  bad.emplace_back("trailing byte", r);
  r = replica_of(good);
  r.lfn = crypto::to_hex(crypto::random_bytes(storage::lfn_size));
  bad.emplace_back("lfn mismatch", r);
  r = replica_of(good);
  for (auto& c : r.lfn) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  bad.emplace_back("uppercase lfn", r);
  r = replica_of(good);
  r.owner = "site-b";
  bad.emplace_back("owner mismatch", r);
  r = replica_of(good);
  r.version = 3;
  bad.emplace_back("version mismatch", r);
  auto forged = good;
  forged.attributes.modality = "MR";  // signed over CT
  bad.emplace_back("verifier false", replica_of(forged));

  for (const auto& [why, rec] : bad) {
    EXPECT_FALSE(f.store->put_record(rec)) << why;
    EXPECT_EQ(f.store->put_records({rec}), 0u) << why;
    EXPECT_EQ(f.dump(), before) << why;
    EXPECT_EQ(f.store->record_count(), 1u) << why;
  }
  EXPECT_TRUE(f.store->put_record(replica_of(good)));  // the same record, untouched, is fine
}

TEST(storage_replica_store, an_older_version_is_refused) {
  store_fixture f;
  auto lfn = crypto::random_bytes(storage::lfn_size);
  ASSERT_TRUE(f.store->put_record(replica_of(f.owner.make(5, lfn))));
  auto before = f.dump();
  EXPECT_FALSE(f.store->put_record(replica_of(f.owner.make(4, lfn, "MR"))));
  EXPECT_EQ(f.dump(), before);
  EXPECT_TRUE(f.store->put_record(replica_of(f.owner.make(6, lfn, "MR"))));
  EXPECT_EQ(f.store->get_record(crypto::to_hex(lfn))->version, 6u);
  EXPECT_EQ(f.store->record_count(), 1u);
  EXPECT_TRUE(f.db->check_indexes());
}

// Two copies of one version: the store must keep dht::newer_than's winner whatever the arrival
// order, even where storage::supersedes (owner-signature tiebreak) would pick the other.
TEST(storage_replica_store, equal_versions_keep_the_winner_of_newer_than) {
  owner_key owner;
  auto lfn = crypto::random_bytes(storage::lfn_size);
  auto winner = owner.make(7, lfn, "CT"), loser = owner.make(7, lfn, "MR");
  // Make supersedes disagree: the loser carries the bytewise greater owner signature (these
  // stores have no verifier, so unsigned copies are accepted).
  bool found = false;
  for (int i = 0; i < 200 && !found; ++i) {
    winner.owner_signature = std::string(64, static_cast<char>(i));
    loser.owner_signature = std::string(64, static_cast<char>(i + 1));
    found = newer_than(replica_of(winner), replica_of(loser));
  }
  ASSERT_TRUE(found);
  ASSERT_TRUE(storage::supersedes(loser, winner));

  for (bool winner_first : {true, false}) {
    test::temp_dir dir{"dm2-replica-store"};
    auto db = must(storage::database::open(dir / "db", storage_key, {}, store_fixture::audit_signer()));
    auto store = must(storage_replica_store::open(*db, {}));
    if (winner_first) {
      EXPECT_TRUE(store->put_record(replica_of(winner)));
      EXPECT_FALSE(store->put_record(replica_of(loser)));
    } else {
      EXPECT_TRUE(store->put_record(replica_of(loser)));
      EXPECT_TRUE(store->put_record(replica_of(winner)));
    }
    EXPECT_EQ(store->get_record(crypto::to_hex(lfn))->payload, replica_of(winner).payload);
    EXPECT_EQ(store->record_count(), 1u);
    EXPECT_TRUE(db->check_indexes());
    storage::index_filter by_loser;
    by_loser.modality = loser.attributes.modality;
    EXPECT_TRUE(db->query(by_loser)->empty());  // the loser's index entries went with it
  }
}

TEST(storage_replica_store, a_batch_is_one_commit_and_skips_what_it_refuses) {
  store_fixture f;
  auto lfn = crypto::random_bytes(storage::lfn_size);
  auto bad = replica_of(f.owner.make());
  bad.owner = "site-z";
  std::vector<record> batch = {replica_of(f.owner.make(1, lfn)), bad, replica_of(f.owner.make()),
                               replica_of(f.owner.make(2, lfn, "MR")), replica_of(f.owner.make(1, lfn))};
  // Accepted: v1, the other record, then v2 (beats v1); the late v1 and the bad one are not.
  EXPECT_EQ(f.store->put_records(batch), 3u);
  EXPECT_EQ(f.store->record_count(), 2u);
  EXPECT_EQ(f.store->get_record(crypto::to_hex(lfn))->version, 2u);
  EXPECT_TRUE(f.db->check_indexes());

  // All or nothing: a commit that fails after the records were added to it (here: its audit
  // event is over a limit) leaves neither the records nor the count changed.
  auto before = f.dump();
  auto r = replica_of(f.owner.make());
  storage::audit_event invalid;
  invalid.actor = std::string(300, 'x');  // over its limit: the whole commit fails
  auto owned = f.store->put_owned(r, invalid);
  EXPECT_FALSE(owned);
  EXPECT_EQ(f.dump(), before);
  EXPECT_EQ(f.store->record_count(), 2u);

  storage::audit_event ok{0, "site:site-a", "record_put", r.lfn, "allowed", ""};
  auto put = f.store->put_owned(r, ok);
  ASSERT_TRUE(put);
  EXPECT_TRUE(*put);
  EXPECT_EQ(f.db->audit_size(), 1u);
  EXPECT_EQ(f.store->record_count(), 3u);
}

// Three replicators over the simulated network, each on its own database: a write reaches the
// others through storage_replica_store, and a newer version replaces it everywhere.
TEST(storage_replica_store, replicators_replicate_through_it) {
  struct site {
    test::temp_dir dir{"dm2-replica-site"};
    std::unique_ptr<storage::database> db;
    std::unique_ptr<storage_replica_store> store;
    std::unique_ptr<replicator> engine;
  };
  manual_clock time;
  sim_network net(time, {});
  static_membership members;
  std::vector<std::unique_ptr<site>> sites;
  std::vector<owner_key> owners(3);
  for (int i = 0; i < 3; ++i) {
    owners[i].site = "site-" + std::to_string(i);
    members.add(site_info{owners[i].site, node_id_of_public_key(owners[i].site), {}});
  }
  auto verify_any = [&owners](const storage::index_record& r) {
    for (const auto& o : owners)
      if (o.site == r.owner_site) return crypto::verify(o.pub, storage::signed_payload(r), r.owner_signature).ok();
    return false;
  };
  replication_settings settings;
  settings.k = 2;  // with 3 sites: every site holds every record
  settings.repair_period = millis(1000);
  for (int i = 0; i < 3; ++i) {
    auto s = std::make_unique<site>();
    s->db = must(storage::database::open(s->dir / "db", storage_key, {}, store_fixture::audit_signer()));
    s->store = must(storage_replica_store::open(*s->db, verify_any));
    s->engine = std::make_unique<replicator>(owners[i].site, settings,
                                             replicator_collaborators{&time, &net, &members, s->store.get(), nullptr});
    net.attach(s->engine.get());
    sites.push_back(std::move(s));
  }
  std::vector<storage::index_record> written;
  for (int i = 0; i < 3; ++i)
    for (int n = 0; n < 5; ++n) {
      written.push_back(owners[i].make());
      sites[i]->engine->publish(replica_of(written.back()));
    }
  auto lfn = written.front().lfn;
  sites[0]->engine->publish(replica_of(owners[0].make(2, lfn, "MR")));
  net.run_until(millis(2500));
  for (auto& s : sites) {
    EXPECT_EQ(s->store->record_count(), 15u);
    auto r = s->store->get_record(crypto::to_hex(lfn));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->version, 2u);
    EXPECT_TRUE(s->db->check_indexes());
    EXPECT_EQ(s->engine->counters().records_refused, 0u);
  }
  // A forged push (a record of site-0 that site-0 did not sign) is stored nowhere.
  auto forged = owners[0].make();
  forged.attributes.modality = "US";
  sites[1]->engine->publish(replica_of(forged));  // lands in site-1's publish path: refused there too
  net.run_until(millis(4000));
  for (auto& s : sites) EXPECT_FALSE(s->store->get_record(crypto::to_hex(forged.lfn)));
}

}  // namespace
}  // namespace dm2::dht
