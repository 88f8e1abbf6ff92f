#include "dm2/dht/replicator.hpp"

#include <gtest/gtest.h>

#include <random>

#include "replication_fixture.hpp"

namespace dm2::dht {
namespace {

using testing::sim_cluster;

std::vector<record> publish_many(sim_cluster& c, int per_site, std::uint64_t version = 1) {
  std::vector<record> out;
  for (int s = 0; s < c.size(); ++s)
    for (int i = 0; i < per_site; ++i) {
      record r{"lfn-" + std::to_string(s) + "-" + std::to_string(i), version, c.site(s).id,
               "payload-v" + std::to_string(version)};
      c.site(s).engine->publish(r);
      out.push_back(r);
    }
  return out;
}

// Each of `owners` owns `per_owner` keys split into 3 shares; (owner site, key id) pairs.
std::vector<std::pair<std::string, std::string>> own_keys(sim_cluster& c, std::initializer_list<int> owners, int per_owner) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (int owner : owners)
    for (int k = 0; k < per_owner; ++k) {
      auto key_id = "key-" + std::to_string(owner) + "-" + std::to_string(k);
      c.site(owner).engine->own_key(key_id, 3);
      keys.emplace_back(c.site(owner).id, key_id);
    }
  return keys;
}

TEST(replicator, a_write_reaches_its_k_holders_and_nobody_else) {
  sim_cluster c(8);
  auto records = publish_many(c, 10);
  c.run_for(millis(200));
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
  placement_index p(c.members().live_sites());
  for (const auto& r : records) {
    auto targets = p.closest_ids(key_of(r.lfn), 3, r.owner);
    for (int s = 0; s < c.size(); ++s) {
      bool should = c.site(s).id == r.owner ||
                    std::find(targets.begin(), targets.end(), c.site(s).id) != targets.end();
      EXPECT_EQ(c.site(s).store.get_record(r.lfn).has_value(), should) << r.lfn;
    }
  }
}

// The memoized placements (dropped only by the membership changes that can alter them: the
// prefix filters, the runs of near keys, the excluded sites) equal a fresh placement through
// random failures and returns, whatever the count, the excluded site and the look-up hint.
TEST(replicator, memoized_placements_equal_fresh_ones_through_random_membership_changes) {
  sim_cluster c(64);  // ~4 leading bits per reach: runs of prefixes both under and over a word
  auto& r = *c.site(0).engine;
  std::mt19937 rng(7);
  std::vector<std::uint32_t> hints(300, ~std::uint32_t{0});
  std::size_t checked = 0;
  for (int step = 0; step < 80; ++step) {
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      const auto& id = c.site(1 + static_cast<int>(rng() % 63)).id;
      c.members().set_live(id, !c.members().is_live(id));
    }
    placement_index fresh(c.members().live_sites());
    for (std::size_t i = 0; i < hints.size(); ++i) {
      auto name = "name-" + std::to_string(i);
      auto count = 1 + i % 5;
      const auto& excluded = c.site(static_cast<int>(i % 64)).id;
      auto exclude = r.index_of(excluded);
      site_list got = step % 2 ? r.closest(name, count, exclude, hints[i]) : r.closest(name, count, exclude);
      std::vector<std::string> got_ids;
      for (auto s : got) got_ids.push_back(r.site_id(s));
      ASSERT_EQ(got_ids, fresh.closest_ids(key_of(name), count, excluded)) << name << " at step " << step;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 80u * 300u);
}

// The same through one memo followed by several replicators, each asking for names of its own
// and names the others ask for too (what one recomputes, the others read).
TEST(replicator, a_shared_placement_memo_gives_each_follower_fresh_placements) {
  sim_cluster c(64, {}, {}, /*real_shares=*/false, /*shared_placements=*/true);
  std::mt19937 rng(11);
  std::size_t checked = 0;
  for (int step = 0; step < 60; ++step) {
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      const auto& id = c.site(4 + static_cast<int>(rng() % 60)).id;
      c.members().set_live(id, !c.members().is_live(id));
    }
    placement_index fresh(c.members().live_sites());
    for (int asker = 0; asker < 4; ++asker) {
      auto& r = *c.site(asker).engine;
      for (int i = 0; i < 120; ++i) {
        if ((i + step) % 4 == asker) continue;  // followers come and go from names
        auto name = "name-" + std::to_string(i % 80 + (asker % 2) * 40);
        const auto& excluded = c.site(i % 64).id;
        site_list got = r.closest(name, 3, r.index_of(excluded));
        std::vector<std::string> got_ids;
        for (auto s : got) got_ids.push_back(r.site_id(s));
        ASSERT_EQ(got_ids, fresh.closest_ids(key_of(name), 3, excluded)) << name << " by site " << asker;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 60u * 4u * 90u);
}

// A memo serves one view: a replicator of another view following it is refused at once.
TEST(replicator, a_shared_placement_memo_refuses_a_second_view) {
  manual_clock time;
  sim_network net(time, {});
  static_membership a, b;
  for (auto* view : {&a, &b})
    for (const auto* id : {"site-0", "site-1"}) view->add(site_info{id, node_id_of_public_key(id), {}});
  memory_replica_store sa, sb;
  auto memo = shared_closest_cache();
  replicator ra("site-0", {}, replicator_collaborators{&time, &net, &a, &sa, nullptr, nullptr, memo});
  replicator rb("site-1", {}, replicator_collaborators{&time, &net, &b, &sb, nullptr, nullptr, memo});
  EXPECT_EQ(ra.closest("name", 1, no_site).size(), 1u);
  EXPECT_THROW(rb.closest("name", 1, no_site), std::logic_error);
}

TEST(replicator, after_killing_sites_every_record_regains_k_live_replicas) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  sim_cluster c(12, rs);
  auto records = publish_many(c, 20);
  c.run_for(millis(500));
  ASSERT_EQ(c.under_replicated(records, 3), 0u);
  for (int i : {1, 4, 7, 10}) c.kill(i);  // owners among them: their records must survive too
  EXPECT_GT(c.under_replicated(records, 3), 0u);
  c.run_for(millis(3000));
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
}

TEST(replicator, a_healed_partition_converges) {
  replication_settings rs;
  rs.repair_period = millis(2000);
  sim_cluster c(12, rs);
  auto before = publish_many(c, 10);
  c.run_for(millis(500));
  ASSERT_EQ(c.under_replicated(before, 3), 0u);
  // Two halves that cannot reach each other, while both still count every site as live.
  auto half = [&c](const std::string& site) {
    for (int i = 0; i < c.size() / 2; ++i)
      if (c.site(i).id == site) return 0;
    return 1;
  };
  c.net().set_partition([half](const std::string& from, const std::string& to) {
    return half(from) != half(to);
  });
  auto during = publish_many(c, 10, 2);  // version 2 of the same LFNs, written on both sides
  c.run_for(millis(5000));
  EXPECT_GT(c.under_replicated(during, 3), 0u);  // writes stayed on their owner's side
  c.net().set_partition({});
  c.run_for(millis(2 * 2000 + 500));  // two repair periods
  EXPECT_EQ(c.under_replicated(during, 3), 0u);
}

TEST(replicator, converged_sites_exchange_digests_but_push_nothing) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  sim_cluster c(6, rs);
  publish_many(c, 30);
  c.run_for(millis(2500));
  std::uint64_t pushed = 0, rounds = 0;
  for (int s = 0; s < c.size(); ++s) {
    pushed += c.site(s).engine->counters().records_pushed;
    rounds += c.site(s).engine->counters().rounds;
  }
  c.run_for(millis(3000));
  std::uint64_t pushed_after = 0, rounds_after = 0;
  for (int s = 0; s < c.size(); ++s) {
    pushed_after += c.site(s).engine->counters().records_pushed;
    rounds_after += c.site(s).engine->counters().rounds;
  }
  EXPECT_EQ(pushed_after, pushed);
  EXPECT_GT(rounds_after, rounds);
}

TEST(replicator, a_wiped_restarted_site_catches_up) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  sim_cluster c(8, rs);
  auto records = publish_many(c, 15);
  c.run_for(millis(500));
  c.kill(3);
  c.run_for(millis(1500));
  c.revive(3, /*wiped=*/true);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
  EXPECT_GT(c.site(3).store.record_count(), 0u);
}

TEST(replicator, a_newer_version_replaces_the_stale_copy_of_a_returning_holder) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  sim_cluster c(6, rs);
  record v1{"lfn-x", 1, c.site(0).id, "old"};
  c.site(0).engine->publish(v1);
  c.run_for(millis(200));
  auto holder = c.site(0).engine->site_id(c.site(0).engine->holders_of(v1).back());
  int holder_index = std::stoi(holder.substr(5));
  c.kill(holder_index);
  c.run_for(millis(200));
  c.revive(holder_index, /*wiped=*/false);  // comes back before the owner's next write ...
  c.net().set_alive(holder, false);         // ... but misses the push itself
  record v2{"lfn-x", 2, c.site(0).id, "new"};
  c.site(0).engine->publish(v2);
  c.run_for(millis(100));
  c.net().set_alive(holder, true);
  ASSERT_EQ(c.by_id(holder).store.get_record("lfn-x")->payload, "old");
  c.run_for(millis(2500));
  EXPECT_EQ(c.by_id(holder).store.get_record("lfn-x")->payload, "new");
  EXPECT_EQ(c.under_replicated({v2}, 3), 0u);
}

TEST(replicator, refuses_records_it_does_not_owe_oversized_and_malformed) {
  sim_cluster c(8);
  auto& target = *c.site(0).engine;
  std::vector<record> batch;
  // Find a record that site-0 should not hold, and one that it should.
  record not_ours, ours;
  for (int i = 0; !not_ours.lfn.size() || !ours.lfn.size(); ++i) {
    record r{"probe-" + std::to_string(i), 1, c.site(1).id, "p"};
    auto hs = target.holders_of(r);
    bool mine = std::find(hs.begin(), hs.end(), target.index_of(c.site(0).id)) != hs.end();
    (mine ? ours : not_ours) = r;
  }
  record oversized = ours;
  oversized.payload.assign(target.settings().max_payload_bytes + 1, 'x');
  record nameless = ours;
  nameless.lfn.clear();
  target.on_message(c.site(1).id, push_records{{not_ours, oversized, nameless}});
  EXPECT_EQ(c.site(0).store.record_count(), 0u);
  EXPECT_EQ(target.counters().records_refused, 3u);
  target.on_message(c.site(1).id, push_records{{ours}});
  EXPECT_EQ(c.site(0).store.record_count(), 1u);

  digest_request wrong;
  wrong.bucket_count = 7;
  target.on_message(c.site(1).id, wrong);
  EXPECT_EQ(target.counters().messages_refused, 1u);
  target.on_message(c.site(0).id, pull_request{});  // from itself: refused
  EXPECT_EQ(target.counters().messages_refused, 2u);
}

// Shares of each key held anywhere (live or not): n = 3 once the surplus is dropped.
void expect_three_shares_each(sim_cluster& c, const std::vector<std::pair<std::string, std::string>>& keys) {
  for (const auto& [owner, key_id] : keys) {
    int copies = 0;
    for (int s = 0; s < c.size(); ++s)
      c.site(s).store.for_each_share([&](const key_share& sh) { copies += sh.key_id == key_id; });
    EXPECT_EQ(copies, 3) << key_id;
  }
}

TEST(replicator, key_shares_sit_on_n_distinct_live_sites_and_are_restored_after_failures) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.share_inventory_wait = millis(200);
  sim_cluster c(10, rs);
  auto keys = own_keys(c, {0, 1, 2}, 5);
  c.run_for(millis(600));
  ASSERT_EQ(c.under_shared(keys, 3), 0u);
  for (int i : {4, 6, 8}) c.kill(i);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_shared(keys, 3), 0u);
  // The dead come back with their old shares; the owners drop the surplus copies.
  for (int i : {4, 6, 8}) c.revive(i, /*wiped=*/false);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_shared(keys, 3), 0u);
  expect_three_shares_each(c, keys);
}

TEST(replicator, shares_are_only_accepted_from_their_owner_sealed_to_us) {
  sim_cluster c(4);
  auto& e = *c.site(0).engine;
  key_share forged{"key", 1, c.site(2).id, c.site(0).id, "s"};  // claims site-2, sent by site-1
  key_share misdirected{"key", 1, c.site(1).id, c.site(3).id, "s"};
  e.on_message(c.site(1).id, push_shares{{forged, misdirected}});
  int held = 0;
  c.site(0).store.for_each_share([&](const key_share&) { ++held; });
  EXPECT_EQ(held, 0);
}

TEST(replicator, the_simulation_is_deterministic_for_a_seed) {
  auto run = [] {
    sim_network_settings ns;
    ns.seed = 42;
    ns.loss_rate = 0.05;
    replication_settings rs;
    rs.repair_period = millis(500);
    sim_cluster c(10, rs, ns);
    publish_many(c, 10);
    c.kill(2);
    c.run_for(millis(3000));
    return c.net().messages_sent();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace dm2::dht

namespace dm2::dht {
namespace {

// Copies held by a site that neither owns the record nor is one of its 3 holders now.
std::size_t copies_not_owed(sim_cluster& c) {
  placement_index p(c.members().live_sites());
  std::size_t extra = 0;
  for (int s = 0; s < c.size(); ++s)
    c.site(s).store.for_each_record([&](const record& r) {
      auto targets = p.closest_ids(key_of(r.lfn), 3, r.owner);
      extra += r.owner != c.site(s).id && std::find(targets.begin(), targets.end(), c.site(s).id) == targets.end();
    });
  return extra;
}

// Sites 2 and 5 of 10 die, others take over their replicas, and they come back with their disks:
// placement returns to them, and the others hold temporary copies they no longer owe.
std::vector<record> kill_and_revive_two(sim_cluster& c) {
  auto records = publish_many(c, 10);
  c.run_for(millis(500));
  for (int i : {2, 5}) c.kill(i);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
  for (int i : {2, 5}) c.revive(i, /*wiped=*/false);
  return records;
}

TEST(replicator_handoff, copies_no_longer_owed_are_dropped_once_every_holder_has_them) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.handoff_grace = millis(1500);
  sim_cluster c(10, rs);
  auto records = kill_and_revive_two(c);
  c.run_for(millis(1000));
  EXPECT_GT(copies_not_owed(c), 0u);  // kept during the grace period
  c.run_for(millis(4000));
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
  std::uint64_t handed_off = 0;
  for (int s = 0; s < c.size(); ++s) handed_off += c.site(s).engine->counters().records_handed_off;
  EXPECT_EQ(copies_not_owed(c), 0u);  // every temporary copy was handed back
  EXPECT_GT(handed_off, 0u);
}

// A copy no longer owed is digested to its holders when it becomes unowed (pushed where it is
// missing) and again when its hand-off is due; in between the pairs that settled it are quiet,
// and once it is dropped, losing it from their shared records costs no digest either.
TEST(replicator_handoff, copies_in_their_grace_and_after_their_hand_off_cost_no_digests) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.handoff_grace = millis(6000);
  sim_cluster c(10, rs);
  auto records = kill_and_revive_two(c);
  c.run_for(millis(2500));  // the temporary copies' first digests, and their confirmations
  auto digests = [&c] { return c.net().sent_by_type()[message{digest_request{}}.index()]; };
  auto extra_copies = [&c] { return copies_not_owed(c); };
  ASSERT_GT(extra_copies(), 0u);
  auto before = digests();
  c.run_for(millis(2500));  // still within their grace
  EXPECT_EQ(digests(), before);
  EXPECT_GT(extra_copies(), 0u);
  for (int step = 0; step < 100 && extra_copies() > 0; ++step) c.run_for(millis(100));
  ASSERT_EQ(extra_copies(), 0u);
  auto handed_off = digests();
  EXPECT_GT(handed_off, before);  // the hand-off's confirmations
  c.run_for(millis(3000));
  EXPECT_EQ(digests(), handed_off);
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
}

}  // namespace
}  // namespace dm2::dht

namespace dm2::dht {
namespace {

// Rounds exchange nothing while replicas agree; a copy lost behind an unchanged membership view
// (no write, no failure seen) is repaired by the recheck every agreed_recheck_rounds periods.
TEST(replicator_recheck, converged_sites_go_quiet_and_a_silent_loss_is_repaired_by_the_recheck) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.agreed_recheck_rounds = 4;
  sim_cluster c(8, rs);
  auto records = publish_many(c, 10);
  c.run_for(millis(2500));
  ASSERT_EQ(c.under_replicated(records, 3), 0u);
  auto digests = [&c] { return c.net().sent_by_type()[message{digest_request{}}.index()]; };
  auto before = digests();
  c.run_for(millis(2000));  // two rounds within the recheck period: nothing to say
  EXPECT_EQ(digests(), before);
  // Site 3 loses a replica it holds without anyone noticing.
  std::string lost;
  c.site(3).store.for_each_record([&](const record& r) {
    if (lost.empty() && r.owner != c.site(3).id) lost = r.lfn;
  });
  ASSERT_FALSE(lost.empty());
  c.site(3).store.erase_record(lost);
  EXPECT_GT(c.under_replicated(records, 3), 0u);
  c.run_for(millis(4 * 1000 + 1500));  // the recheck comes round
  EXPECT_GT(digests(), before);
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
}

}  // namespace
}  // namespace dm2::dht

namespace dm2::dht {
namespace {

// With no timed recheck (the default), converged sites stay silent however long nothing
// changes; a site that restarts with a wiped disk faster than anyone sees it down announces
// only its new incarnation, and that alone brings its replicas and shares back.
TEST(replicator_restart, a_wiped_peer_restarted_unseen_is_repaired_without_timed_rechecks) {
  replication_settings rs;
  ASSERT_EQ(rs.agreed_recheck_rounds, 0u);
  rs.repair_period = millis(1000);
  rs.share_inventory_wait = millis(200);
  sim_cluster c(8, rs);
  auto records = publish_many(c, 10);
  auto keys = own_keys(c, {0, 1}, 4);
  c.run_for(millis(3500));
  ASSERT_EQ(c.under_replicated(records, 3), 0u);
  ASSERT_EQ(c.under_shared(keys, 3), 0u);
  auto sent = [&c](const message& m) { return c.net().sent_by_type()[m.index()]; };
  auto digests = sent(digest_request{}), inventories = sent(share_inventory_request{});
  c.run_for(millis(30'000));  // 30 rounds: nothing changed, nothing to say
  EXPECT_EQ(sent(digest_request{}), digests);
  EXPECT_EQ(sent(share_inventory_request{}), inventories);

  // The site holding the most replicas of others' records and shares loses its disk.
  int victim = -1;
  std::size_t most = 0;
  for (int s = 2; s < c.size(); ++s) {
    std::size_t held = 0, shares = 0;
    c.site(s).store.for_each_record([&](const record& r) { held += r.owner != c.site(s).id; });
    c.site(s).store.for_each_share([&](const key_share&) { ++shares; });
    if (shares > 0 && held + shares > most) {
      most = held + shares;
      victim = s;
    }
  }
  ASSERT_GE(victim, 0);
  c.restart_unseen(victim, /*wiped=*/true);
  EXPECT_GT(c.under_replicated(records, 3), 0u);
  EXPECT_GT(c.under_shared(keys, 3), 0u);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
  EXPECT_EQ(c.under_shared(keys, 3), 0u);
  EXPECT_GT(sent(digest_request{}), digests);
}

// An owner with no records (so no record peers watched) places its shares; a target restarts
// wiped, unseen, right after the owner found every share in place and before its next round.
// The owner must notice that restart and place the share again.
TEST(replicator_restart, a_share_target_wiped_right_after_the_placement_check_gets_its_share_back) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.share_inventory_wait = millis(200);
  sim_cluster c(8, rs);
  auto keys = own_keys(c, {0}, 2);
  // Rounds at 0 s (shares pushed) and 1 s (every share found in place at ~1.2 s); next at 2 s.
  c.run_for(millis(1500));
  ASSERT_EQ(c.under_shared(keys, 3), 0u);
  int target = -1;
  for (int s = 1; s < c.size() && target < 0; ++s)
    c.site(s).store.for_each_share([&](const key_share&) { target = s; });
  ASSERT_GE(target, 0);
  c.restart_unseen(target, /*wiped=*/true);
  EXPECT_GT(c.under_shared(keys, 3), 0u);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_shared(keys, 3), 0u);
}

}  // namespace
}  // namespace dm2::dht

namespace dm2::dht {
namespace {

std::uint64_t records_pushed(sim_cluster& c) {
  std::uint64_t n = 0;
  for (int s = 0; s < c.size(); ++s) n += c.site(s).engine->counters().records_pushed;
  return n;
}

// Sites started together right after pushing their records (as dm2-sim starts them): with their
// first rounds spread, no digest races those pushes and each record reaches each holder once.
// At the first tick, every site digested records still in flight and pushed many of them again.
TEST(replicator_start, spread_first_rounds_push_no_initial_record_twice) {
  replication_settings rs;
  rs.repair_period = millis(3000);
  rs.first_round_spread = millis(1000);
  sim_cluster c(16, rs);
  auto records = publish_many(c, 10);
  const auto initial = records_pushed(c);
  ASSERT_EQ(initial, records.size() * 3);
  auto started = [&c] {
    int n = 0;
    for (int s = 0; s < c.size(); ++s) n += c.site(s).engine->counters().rounds > 0;
    return n;
  };
  c.run_for(millis(500));
  EXPECT_GT(started(), 0);
  EXPECT_LT(started(), c.size());  // spread: some have not begun yet
  c.run_for(millis(1000));
  EXPECT_EQ(started(), c.size());
  EXPECT_EQ(c.under_replicated(records, 3), 0u);
  EXPECT_EQ(records_pushed(c), initial);
}

// (site asked, key id) for every share inventory request delivered from now on.
std::shared_ptr<std::vector<std::pair<std::string, std::string>>> watch_share_asks(sim_cluster& c) {
  auto asked = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  for (int s = 0; s < c.size(); ++s)
    c.net().attach_handler(c.site(s).id, {[asked, id = c.site(s).id](const std::string&, const message& m) {
                                            if (const auto* r = std::get_if<share_inventory_request>(&m))
                                              for (const auto& k : r->key_ids) asked->emplace_back(id, k);
                                          },
                                          {}});
  return asked;
}

// An owner whose one key's share targets moved asks about that key alone, and only the site
// that became its target: the others' shares are known. It asked every target and former
// holder about every key it owns. The moved key is whole again, and the surplus goes once the
// old target is back.
TEST(replicator_shares, a_moved_target_is_asked_about_its_key_alone) {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.share_inventory_wait = millis(200);
  sim_cluster c(12, rs);
  auto keys = own_keys(c, {0}, 4);
  c.run_for(millis(2500));  // placed at 0 s, found in place at ~1.2 s
  ASSERT_EQ(c.under_shared(keys, 3), 0u);
  auto targets_of = [&c](const std::string& key_id) {
    return placement_index(c.members().live_sites()).closest_ids(key_of(key_id), 3, c.site(0).id);
  };
  std::map<std::string, std::vector<std::string>> before;
  for (const auto& [owner, key_id] : keys) before[key_id] = targets_of(key_id);
  // A target of the first key that is not a target of every key.
  std::string victim;
  for (const auto& t : before[keys[0].second])
    if (std::any_of(keys.begin(), keys.end(), [&](const auto& k) {
          const auto& ts = before[k.second];
          return std::find(ts.begin(), ts.end(), t) == ts.end();
        }))
      victim = t;
  ASSERT_FALSE(victim.empty());
  auto asked = watch_share_asks(c);
  int victim_index = 0;
  while (c.site(victim_index).id != victim) ++victim_index;
  c.kill(victim_index);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_shared(keys, 3), 0u);
  ASSERT_FALSE(asked->empty());
  auto was_target = [&before](const std::string& site, const std::string& key_id) {
    const auto& old = before[key_id];
    return std::find(old.begin(), old.end(), site) != old.end();
  };
  for (const auto& [site, key_id] : *asked) {
    EXPECT_TRUE(was_target(victim, key_id)) << key_id << " did not move, yet " << site << " was asked";
    EXPECT_FALSE(was_target(site, key_id)) << site << " kept its share of " << key_id << ", yet was asked";
  }
  c.revive(victim_index, /*wiped=*/false);
  c.run_for(millis(2500));
  EXPECT_EQ(c.under_shared(keys, 3), 0u);
  expect_three_shares_each(c, keys);
}

// A key owned while another key's shares are being checked is not part of that check; it is
// placed as soon as the check ends, and a key owned between checks at once: neither waits a
// repair period for the next round (as a series ingested mid-round did, and its reads got 503).
TEST(replicator_shares, a_key_owned_between_rounds_is_placed_without_waiting_for_the_next_round) {
  replication_settings rs;
  rs.repair_period = millis(10000);
  rs.share_inventory_wait = millis(200);
  sim_cluster c(10, rs);
  auto first = own_keys(c, {0}, 1);
  c.run_for(millis(100));  // the first round's check is collecting inventories
  ASSERT_EQ(c.site(0).engine->counters().rounds, 1u);
  c.site(0).engine->own_key("key-during-check", 3);
  c.run_for(millis(700));
  EXPECT_EQ(c.under_shared(first, 3), 0u);
  EXPECT_EQ(c.under_shared({{c.site(0).id, "key-during-check"}}, 3), 0u);
  c.site(0).engine->own_key("key-between-checks", 3);
  c.run_for(millis(700));
  EXPECT_EQ(c.under_shared({{c.site(0).id, "key-between-checks"}}, 3), 0u);
  EXPECT_EQ(c.site(0).engine->counters().rounds, 1u);  // all of it before the next round
}

}  // namespace
}  // namespace dm2::dht

namespace dm2::dht {
namespace {

// Everything a run leaves behind: messages by type and delivered, each site's counters and what
// it holds.
std::string trace_of(sim_cluster& c) {
  std::string out;
  for (auto n : c.net().sent_by_type()) out += std::to_string(n) + ' ';
  out += "delivered " + std::to_string(c.net().messages_delivered()) + '\n';
  for (int s = 0; s < c.size(); ++s) {
    const auto& k = c.site(s).engine->counters();
    out += c.site(s).id;
    for (auto n : {k.rounds, k.messages_sent, k.records_pushed, k.records_accepted, k.shares_pushed, k.records_handed_off,
                   k.repairs_started, k.repairs_contributed, k.shares_repaired, k.repairs_impossible})
      out += ' ' + std::to_string(n);
    c.site(s).store.for_each_record([&](const record& r) { out += ' ' + r.lfn + '@' + std::to_string(r.version); });
    c.site(s).store.for_each_share([&](const key_share& sh) { out += ' ' + sh.key_id + '#' + std::to_string(sh.index); });
    out += '\n';
  }
  return out;
}

// sim_network skips a replicator's ticks before its next_work(): the run must be the very same
// as with every tick run, through losses, deaths, share repairs, wiped and unseen restarts,
// and keys owned and records written between rounds (whose calls wake the site).
struct seen {
  std::uint64_t ticks = 0, repaired = 0;
};

// 12 sites at 5 % loss through deaths, share repairs, wiped and unseen restarts, and keys owned
// and records written between rounds: the trace of the run.
std::string churn_run(bool skip_idle_ticks, bool shared_placements, seen& out) {
  sim_network_settings ns;
  ns.seed = 7;
  ns.loss_rate = 0.05;
  ns.skip_idle_ticks = skip_idle_ticks;
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.share_inventory_wait = millis(200);
  rs.share_repair_timeout = millis(3000);
  rs.first_round_spread = millis(500);
  sim_cluster c(12, rs, ns, /*real_shares=*/true, shared_placements);
  publish_many(c, 4);
  for (int owner : {0, 1})
    for (int k = 0; k < 2; ++k) c.own_secret(owner, "key-" + std::to_string(owner) + "-" + std::to_string(k), "secret", 2, 3);
  c.run_for(millis(4000));
  c.kill(0);  // its keys' shares get repaired while it is down
  c.kill(7);
  c.run_for(millis(6000));
  c.revive(7, /*wiped=*/true);
  c.site(1).engine->own_key("key-late", 3);  // between rounds: a call, not a message, wakes it
  c.own_secret(1, "key-late", "late", 2, 3);
  c.run_for(millis(2500));
  c.site(3).engine->publish(record{"late-record", 1, c.site(3).id, "payload"});
  c.restart_unseen(5, /*wiped=*/true);
  c.run_for(millis(8000));
  c.revive(0, /*wiped=*/false);
  c.run_for(millis(5000));
  out.ticks = c.net().ticks_run();
  for (int s = 0; s < c.size(); ++s) out.repaired += c.site(s).engine->counters().shares_repaired;
  return trace_of(c);
}

TEST(replicator_idle_ticks, skipping_ticks_before_next_work_changes_nothing) {
  seen all, skipped;
  auto every_tick = churn_run(false, false, all);
  EXPECT_EQ(churn_run(true, false, skipped), every_tick);
  EXPECT_GT(all.repaired, 0u);  // the run went through share repairs
  EXPECT_LT(skipped.ticks, all.ticks / 2);  // most ticks of a quiet site had nothing to do
}

// One placement memo followed by every replicator (dm2-sim's) must change nothing either: each
// site is told of exactly the drops of the placements it read, dead sites catching up on the
// batches they missed.
TEST(replicator_shared_placements, one_memo_for_every_site_changes_nothing) {
  seen own, shared;
  auto each_its_own = churn_run(true, false, own);
  EXPECT_EQ(churn_run(true, true, shared), each_its_own);
  EXPECT_GT(shared.repaired, 0u);
}

}  // namespace
}  // namespace dm2::dht

namespace dm2::dht {
namespace {

// sim_network routes by view index only while every replicator shares one view: here each has
// its own, listing the sites in another order (so the same index names another site in each),
// and every record must still land on its holders and nowhere else.
TEST(replicator_views, sites_with_views_of_their_own_are_reached_by_id) {
  manual_clock time;
  sim_network net(time, {});
  constexpr int n = 6;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("site-" + std::to_string(i));
  std::vector<std::unique_ptr<static_membership>> views;
  std::vector<std::unique_ptr<memory_replica_store>> stores;
  std::vector<std::unique_ptr<replicator>> engines;
  for (int i = 0; i < n; ++i) {
    views.push_back(std::make_unique<static_membership>());
    for (int j = 0; j < n; ++j) {
      // Rotated by 2i: each site's own index differs from view to view, and so does the site
      // an index names.
      const auto& id = ids[static_cast<std::size_t>((j + 2 * i) % n)];
      views.back()->add(site_info{id, node_id_of_public_key(id), {}});
    }
    stores.push_back(std::make_unique<memory_replica_store>());
  }
  ASSERT_NE(views[0]->index_of(ids[0]), views[1]->index_of(ids[1]));
  ASSERT_NE(views[0]->index_of(ids[1]), views[1]->index_of(ids[1]));
  replication_settings rs;
  rs.k = 2;
  rs.repair_period = millis(500);
  for (int i = 0; i < n; ++i) {
    engines.push_back(std::make_unique<replicator>(
        ids[static_cast<std::size_t>(i)], rs,
        replicator_collaborators{&time, &net, views[static_cast<std::size_t>(i)].get(), stores[static_cast<std::size_t>(i)].get(), nullptr}));
    net.attach(engines.back().get());
  }
  std::vector<record> records;
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < 4; ++r) {
      records.push_back(record{ids[static_cast<std::size_t>(i)] + "/r" + std::to_string(r), 1, ids[static_cast<std::size_t>(i)], "x"});
      engines[static_cast<std::size_t>(i)]->publish(records.back());
    }
  net.run_until(time.now() + millis(3000));
  placement_index p(views[0]->live_sites());
  for (const auto& r : records) {
    auto targets = p.closest_ids(key_of(r.lfn), 2, r.owner);
    for (int i = 0; i < n; ++i) {
      const auto& id = ids[static_cast<std::size_t>(i)];
      bool should = id == r.owner || std::find(targets.begin(), targets.end(), id) != targets.end();
      EXPECT_EQ(stores[static_cast<std::size_t>(i)]->get_record(r.lfn).has_value(), should) << r.lfn << " at " << id;
    }
  }
  for (const auto& e : engines) EXPECT_EQ(e->counters().records_refused, 0u) << e->self();
}

}  // namespace
}  // namespace dm2::dht
