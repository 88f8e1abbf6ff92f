// 16 real overlays on 127.0.0.40..55: membership from their DHT liveness, records replicated by
// the replicator over an in-process transport (the node's HTTPS transport plugs in the same way).
#include <gtest/gtest.h>

#include <deque>
#include <iterator>
#include <map>
#include <set>

#include "dm2/crypto/hash.hpp"
#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/replicator.hpp"
#include "overlay_cluster.hpp"
#include "replication_fixture.hpp"

namespace dm2::dht {
namespace {

using testing::eventually;
using testing::overlay_node;
using testing::start_node;

struct queued {
  std::string from, to;
  message m;
};

class queue_transport final : public transport {
 public:
  void send(const std::string& from, const std::string& to, message m) override {
    queue.push_back({from, to, std::move(m)});
  }
  std::deque<queued> queue;
};

struct live_site {
  overlay_node net;
  std::string id;
  std::unique_ptr<overlay_membership> members;
  memory_replica_store store;
  x25519_keyring keyring = testing::new_keyring();
  std::unique_ptr<testing::crypto_share_source> shares;
  std::unique_ptr<replicator> engine;
  bool alive = true;
};

TEST(overlay_replication, sixteen_nodes_1000_records_stop_five_every_record_and_key_regains_its_copies) {
  constexpr int n = 16;
  steady_clock_source clock;
  queue_transport net;
  overlay_settings os;
  os.probe_interval = std::chrono::milliseconds(200);
  replication_settings rs;
  rs.repair_period = millis(2000);
  // Owner + k copies survive any k simultaneous failures: k = 5 keeps every record readable
  // when 5 of 16 sites die at once (with the default k = 3, about 0.3% of records would have
  // all their copies among the 5).
  rs.k = 5;
  rs.share_inventory_wait = millis(300);
  rs.share_repair_timeout = millis(2000);
  std::vector<std::unique_ptr<live_site>> sites;
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<live_site>();
    s->net = start_node(40 + i, os);
    ASSERT_TRUE(s->net.node) << i;
    s->id = "site-" + std::to_string(i);
    sites.push_back(std::move(s));
  }
  std::vector<overlay_node*> all;
  std::vector<site_info> infos;
  for (auto& s : sites) {
    all.push_back(&s->net);
    infos.push_back(site_info{s->id, node_id_of_public_key(s->net.public_key),
                              {s->net.address + ":" + std::to_string(s->net.node->listen_port())}});
  }
  for (auto& s : sites) {
    ASSERT_TRUE(s->net.node->set_roster(testing::peers_of(all), testing::keys_of(all)).ok());
    s->members = std::make_unique<overlay_membership>(*s->net.node, s->id, std::chrono::milliseconds(1000));
    s->members->set_sites(infos);
  }
  auto by_id = [&](const std::string& id) -> live_site& {
    return *sites[static_cast<std::size_t>(std::stoi(id.substr(5)))];
  };
  for (auto& s : sites) {
    s->shares = testing::make_crypto_share_source(
        s->id, [&](const std::string& id) -> const x25519_keyring& { return by_id(id).keyring; });
    s->engine = std::make_unique<replicator>(
        s->id, rs,
        replicator_collaborators{&clock, &net, s->members.get(), &s->store, s->shares.get(), &s->keyring});
  }
  auto step = [&] {
    for (auto& s : sites)
      if (s->alive) {
        s->members->refresh();
        s->engine->tick();
      }
    while (!net.queue.empty()) {
      auto q = std::move(net.queue.front());
      net.queue.pop_front();
      auto& to = by_id(q.to);
      if (to.alive) to.engine->on_message(q.from, q.m);
    }
  };
  auto everyone_sees = [&](std::size_t count) {
    for (auto& s : sites)
      if (s->alive && s->members->live_sites().size() != count) return false;
    return true;
  };
  ASSERT_TRUE(eventually([&] { step(); return everyone_sees(n); }, std::chrono::seconds(15)));

  std::vector<record> records;
  for (int r = 0; r < 1000; ++r) {
    auto& owner = *sites[static_cast<std::size_t>(r % n)];
    record rec{"lfn-" + std::to_string(r), 1, owner.id, "payload-" + std::to_string(r)};
    owner.engine->publish(rec);
    records.push_back(rec);
  }
  auto under_replicated = [&] {
    std::vector<site_info> live;
    for (auto& s : sites)
      if (s->alive) live.push_back(infos[static_cast<std::size_t>(std::stoi(s->id.substr(5)))]);
    placement_index p(live);
    std::size_t bad = 0;
    for (const auto& r : records) {
      for (const auto& t : p.closest_ids(key_of(r.lfn), rs.k, r.owner))
        if (!by_id(t).store.get_record(r.lfn)) {
          ++bad;
          break;
        }
    }
    return bad;
  };
  step();
  ASSERT_EQ(under_replicated(), 0u);

  // Keys owned by the sites about to stop, 2-of-4, chosen so that at least t of their holders
  // survive (a key with fewer is unrecoverable until its owner returns: share_repair_test).
  const std::set<int> stopped{1, 4, 7, 10, 13};
  constexpr unsigned t = 2, shares_n = 4;
  struct owned_key {
    std::string owner, key_id, secret;
  };
  std::vector<owned_key> keys;
  {
    placement_index all_sites(infos);
    for (int candidate = 0; keys.size() < 20; ++candidate) {
      const auto& owner = *sites[static_cast<std::size_t>(*std::next(stopped.begin(), candidate % 5))];
      auto key_id = "key-" + std::to_string(candidate);
      unsigned lost = 0;
      for (const auto& h : all_sites.closest_ids(key_of(key_id), shares_n, owner.id))
        lost += stopped.count(std::stoi(h.substr(5)));
      if (lost > shares_n - t) continue;
      keys.push_back({owner.id, key_id, crypto::random_bytes(32)});
      testing::add_secret(*owner.shares, key_id, keys.back().secret, t, shares_n);
      owner.engine->own_key(key_id, shares_n);
      owner.engine->start_round();
    }
  }
  // Keys whose n indexes are not on n distinct live sites.
  auto under_shared = [&] {
    std::size_t bad = 0;
    for (const auto& k : keys) {
      std::map<std::uint32_t, std::string> where;
      for (auto& s : sites)
        if (s->alive)
          s->store.for_each_share([&](const key_share& sh) {
            if (sh.key_id == k.key_id && sh.holder == s->id) where.emplace(sh.index, s->id);
          });
      std::set<std::string> distinct;
      for (const auto& [i, site] : where) distinct.insert(site);
      bad += where.size() != shares_n || distinct.size() != shares_n;
    }
    return bad;
  };
  ASSERT_TRUE(eventually([&] { step(); return under_shared() == 0; }, std::chrono::seconds(10)));

  for (int i : stopped) {  // stop their overlays: no more answers, no more messages
    sites[static_cast<std::size_t>(i)]->alive = false;
    sites[static_cast<std::size_t>(i)]->net.node.reset();
  }
  EXPECT_GT(under_replicated(), 0u);
  // Every record is still readable somewhere live (k + 1 = 6 copies, 5 failures).
  std::size_t unreadable = 0;
  for (const auto& r : records) {
    bool found = false;
    for (auto& s : sites) found = found || (s->alive && s->store.get_record(r.lfn));
    unreadable += !found;
  }
  EXPECT_EQ(unreadable, 0u);
  EXPECT_GT(under_shared(), 0u);
  EXPECT_TRUE(eventually(
      [&] { step(); return everyone_sees(n - 5) && under_replicated() == 0 && under_shared() == 0; },
      std::chrono::seconds(30)));
  EXPECT_EQ(under_replicated(), 0u);
  // Every key has n shares again, repaired without its owner, and they open the secret.
  EXPECT_EQ(under_shared(), 0u);
  std::uint64_t repaired = 0;
  for (auto& s : sites) repaired += s->engine->counters().shares_repaired;
  EXPECT_GT(repaired, 0u);
  for (const auto& k : keys) {
    std::vector<std::string> live;
    for (auto& s : sites)
      if (s->alive)
        s->store.for_each_share([&](const key_share& sh) {
          if (sh.key_id != k.key_id) return;
          auto raw = s->keyring.open(sh);
          ASSERT_TRUE(raw.ok()) << raw.err().to_string();
          live.push_back(*raw);
        });
    auto secret = crypto::combine_shares(live);
    ASSERT_TRUE(secret.ok()) << k.key_id << ": " << secret.err().to_string();
    EXPECT_EQ(*secret, k.secret);
  }
}

}  // namespace
}  // namespace dm2::dht
