// 16 real overlays on 127.0.0.40..55: membership from their DHT liveness, records replicated by
// the replicator over an in-process transport (the node's HTTPS transport plugs in the same way).
#include <gtest/gtest.h>

#include <deque>
#include <set>

#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/replicator.hpp"
#include "overlay_cluster.hpp"

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
  std::unique_ptr<replicator> engine;
  bool alive = true;
};

TEST(overlay_replication, sixteen_nodes_1000_records_stop_five_every_record_stays_readable_and_regains_k_replicas) {
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
    s->engine = std::make_unique<replicator>(
        s->id, rs, replicator_collaborators{&clock, &net, s->members.get(), &s->store, nullptr});
  }
  auto by_id = [&](const std::string& id) -> live_site& {
    return *sites[static_cast<std::size_t>(std::stoi(id.substr(5)))];
  };
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

  for (int i : {1, 4, 7, 10, 13}) {  // stop their overlays: no more answers, no more messages
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
  EXPECT_TRUE(eventually([&] { step(); return everyone_sees(n - 5) && under_replicated() == 0; },
                         std::chrono::seconds(30)));
  EXPECT_EQ(under_replicated(), 0u);
}

}  // namespace
}  // namespace dm2::dht
