#include "dm2/dht/query_fanout.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "fanout_cluster.hpp"

namespace dm2::dht {
namespace {

using testing::fanout_cluster;

TEST(query_fanout, every_live_site_answers_once_and_hits_are_deduplicated) {
  fanout_cluster f(10);
  auto out = f.query(0);
  f.expect_complete(out, 10);
  EXPECT_GT(out.batches, 1);  // streamed, not one final answer
}

TEST(query_fanout, replica_holders_answer_for_owners_that_are_down) {
  fanout_cluster f(10);
  for (int i : {2, 5, 8}) f.c.kill(i);
  f.c.run_for(millis(100));
  auto out = f.query(0);
  EXPECT_TRUE(out.last.done);
  EXPECT_EQ(out.last.answered, 7u);
  EXPECT_EQ(static_cast<int>(out.seen.size()), f.expected);  // nothing lost with 3 owners down
  for (const auto& [lfn, times] : out.seen) EXPECT_EQ(times, 1) << lfn;
}

// Issue 14: a site that died an instant ago is still in the querier's view. Its records come
// back from the sites holding copies once it is late, long before the deadline.
TEST(query_fanout, a_silent_sites_records_are_answered_by_its_replica_holders_after_the_hedge_delay) {
  fanout_cluster f(6);
  f.c.net().set_alive(f.c.site(3).id, false);  // still in everyone's membership, but silent
  auto out = f.query(0, millis(5000));
  EXPECT_TRUE(out.last.done);
  EXPECT_FALSE(out.last.deadline_passed);
  EXPECT_EQ(out.last.answered, 5u);
  EXPECT_EQ(out.last.hedged, 1u);
  EXPECT_EQ(static_cast<int>(out.seen.size()), f.expected);
  for (const auto& [lfn, times] : out.seen) EXPECT_EQ(times, 1) << lfn;
  // Answers took ~10 ms: the delay is hedge_min (500 ms), then one round trip and a tick.
  EXPECT_GE(out.took, millis(500));
  EXPECT_LT(out.took, millis(800));
  EXPECT_EQ(f.engines[0]->hedges_sent(), 1u);
}

// A site back with an empty disk is live and asked: without the restoring flag its records are
// missed until anti-entropy gives them back; with it, the querier asks their holders.
TEST(query_fanout, a_restoring_sites_records_are_answered_by_their_holders) {
  fanout_cluster f(8);
  const int own_matches = 10;  // records 1, 3, ... 19 of site 3
  f.c.site(3).store = memory_replica_store{};
  auto before = f.query(0);
  EXPECT_TRUE(before.last.done);
  EXPECT_EQ(static_cast<int>(before.seen.size()), f.expected - own_matches);

  f.c.site(3).store = memory_replica_store{};
  f.engines[3]->restoring_until(f.c.time().now() + millis(10'000));
  auto out = f.query(0);
  f.expect_complete(out, 8);
  EXPECT_EQ(out.last.hedged, 1u);
  EXPECT_EQ(out.last.hedged_sites, std::vector<std::string>{f.c.site(3).id});
  EXPECT_LT(out.took, millis(100));  // one more round trip, not a hedge delay

  // The querier itself restoring: the other sites answer for its records.
  f.c.site(0).store = memory_replica_store{};
  f.engines[0]->restoring_until(f.c.time().now() + millis(10'000));
  f.c.site(3).store = memory_replica_store{};
  f.expect_complete(f.query(0), 8);
  // Past its window a site answers as any other: no hedge.
  f.engines[0]->restoring_until(f.c.time().now());
  f.engines[3]->restoring_until(f.c.time().now());
  auto after = f.query(0);
  EXPECT_EQ(after.last.hedged, 0u);
}

// Holders asked for a restoring site's records that fall silent: fewer than k of them are given
// up after a hedge delay (the other copies answered); k of them may hold every copy of a record,
// so the query waits for its deadline.
TEST(query_fanout, silent_holders_of_a_restoring_sites_records_are_given_up_when_fewer_than_k) {
  for (std::set<int> silent : {std::set<int>{5}, std::set<int>{5, 6, 7}}) {
    fanout_cluster f(8);
    f.c.site(3).store = memory_replica_store{};
    f.engines[3]->restoring_until(f.c.time().now() + millis(10'000));
    std::set<std::string> silenced;
    for (int i : silent) silenced.insert(f.c.site(i).id);
    fanout_cluster::outcome out;
    auto start = f.c.time().now();
    // Once every site has answered the query, the silent ones hear nothing more from the querier.
    f.engines[0]->start("q", "m", millis(2000), [&](const std::vector<query_hit>& hits, const query_progress& p) {
      for (const auto& h : hits) ++out.seen[h.lfn];
      out.last = p;
      if (p.answered == 8)
        f.c.net().set_partition([&silenced](const std::string&, const std::string& to) { return silenced.count(to) > 0; });
      if (p.done) out.took = f.c.time().now() - start;
    });
    f.c.run_for(millis(2200));
    ASSERT_TRUE(out.last.done);
    EXPECT_EQ(out.last.hedged_sites, std::vector<std::string>{f.c.site(3).id});
    if (silent.size() < 3) {
      f.expect_complete(out, 8);
      EXPECT_GE(out.took, millis(500));  // the hedge delay (hedge_min)
      EXPECT_LT(out.took, millis(1000));
    } else {
      EXPECT_TRUE(out.last.deadline_passed);
    }
  }
}

TEST(query_fanout, the_hedge_delay_is_a_fraction_of_the_timeout_when_that_is_shorter) {
  fanout_cluster f(6);
  f.c.net().set_alive(f.c.site(3).id, false);
  auto out = f.query(0, millis(1000));  // 0.2 x 1 s = 200 ms < hedge_min
  EXPECT_FALSE(out.last.deadline_passed);
  EXPECT_EQ(static_cast<int>(out.seen.size()), f.expected);
  EXPECT_GE(out.took, millis(200));
  EXPECT_LT(out.took, millis(500));
}

TEST(query_fanout, more_late_sites_than_k_wait_for_the_deadline_and_hedging_can_be_turned_off) {
  fanout_cluster f(8);
  for (int i : {3, 4, 5, 6}) f.c.net().set_alive(f.c.site(i).id, false);  // 4 > k = 3
  auto out = f.query(0, millis(2000));
  EXPECT_TRUE(out.last.deadline_passed);  // a record may have had every copy on those 4
  EXPECT_EQ(out.last.hedged, 4u);
  EXPECT_EQ(out.last.answered, 4u);

  fanout_settings off;
  off.hedge_fraction = 0;
  f.attach(0, f.c.members(), off);
  f.c.net().set_alive(f.c.site(4).id, true);
  f.c.net().set_alive(f.c.site(5).id, true);
  f.c.net().set_alive(f.c.site(6).id, true);
  out = f.query(0, millis(800));
  EXPECT_TRUE(out.last.deadline_passed);
  EXPECT_EQ(out.last.answered, 7u);
  EXPECT_EQ(out.last.hedged, 0u);
  EXPECT_LT(static_cast<int>(out.seen.size()), f.expected);
  EXPECT_GT(out.seen.size(), 0u);
}

TEST(query_fanout, unsigned_or_forged_queries_are_refused) {
  fanout_cluster f(5);
  f.auths[1]->liars.insert(f.c.site(1).id);
  auto out = f.query(1, millis(500));
  EXPECT_TRUE(out.last.deadline_passed);
  EXPECT_EQ(out.last.answered, 1u);  // only itself
  std::uint64_t refused = 0;
  for (auto& e : f.engines) refused += e->refused();
  EXPECT_EQ(refused, 4u);
  // Answers nobody asked for are ignored; so are hits whose score is not a number.
  f.engines[0]->on_message(f.c.site(2).id, query_answer{"nope", {{"x", "y", 1, {}}}, true});
  EXPECT_EQ(f.engines[0]->running(), 0u);
  f.engines[0]->start("nan", "m", millis(500), [](const std::vector<query_hit>&, const query_progress&) {});
  auto before = f.engines[0]->refused();
  f.engines[0]->on_message(f.c.site(2).id, query_answer{"nan", {{"x", "y", std::nan(""), {}}}, false});
  EXPECT_EQ(f.engines[0]->refused(), before + 1);
}

// The querier's view without one site, while every other site still sees it live.
class view_without final : public membership {
 public:
  view_without(const membership& base, std::string hidden) : base_(base), hidden_(std::move(hidden)) {}
  std::vector<site_info> live_sites() const override {
    auto all = base_.live_sites();
    std::erase_if(all, [&](const site_info& s) { return s.site_id == hidden_; });
    return all;
  }
  std::uint64_t version() const override { return base_.version(); }
  std::optional<site_index> index_of(std::string_view id) const override { return base_.index_of(id); }
  const std::string& site_id_of(site_index index) const override { return base_.site_id_of(index); }

 private:
  const membership& base_;
  std::string hidden_;
};

TEST(query_fanout, the_queriers_view_of_who_is_down_decides_so_nothing_falls_between_views) {
  fanout_cluster f(8);
  view_without view(f.c.members(), f.c.site(3).id);
  f.attach(0, view);
  // Site 3 was not asked, yet its records come back from the sites holding copies.
  f.expect_complete(f.query(0), 7);
}

TEST(query_fanout, each_site_answers_only_its_top_k_so_the_merge_is_the_global_top_k) {
  fanout_cluster f(6);
  auto out = f.query(0, millis(2000), "m/3");
  EXPECT_TRUE(out.last.done);
  EXPECT_FALSE(out.last.deadline_passed);
  // Matching records are numbered 1, 3, ... 19 at every site: each site's top 3 are 19, 17, 15.
  EXPECT_EQ(out.seen.size(), 6u * 3u);
  for (const auto& [lfn, times] : out.seen) {
    auto n = std::stoi(lfn.substr(lfn.find('/') + 1));
    EXPECT_GE(n, 15) << lfn;
  }
}

TEST(query_fanout, answering_sites_are_observed_and_refused_bodies_are_not_answered) {
  fanout_cluster f(4);
  std::vector<std::tuple<std::string, std::string, std::size_t>> seen;
  for (auto& e : f.engines)
    e->set_answer_observer([&seen](const std::string& querier, const std::string& id, std::size_t hits) {
      seen.emplace_back(querier, id, hits);
    });
  auto out = f.query(2);
  EXPECT_EQ(out.last.answered, 4u);
  ASSERT_EQ(seen.size(), 4u);  // every site, the querier included
  for (const auto& [querier, id, hits] : seen) {
    EXPECT_EQ(querier, f.c.site(2).id);
    EXPECT_EQ(id, "q1");
    EXPECT_EQ(hits, 10u);
  }
  seen.clear();
  auto refused = f.query(2, millis(500), "bad");
  EXPECT_TRUE(refused.last.done);
  EXPECT_EQ(refused.last.hedged, 3u);  // silent refusers look late; the hedge goes to itself only
  EXPECT_EQ(refused.last.answered, 1u);  // its own (empty) answer only
  EXPECT_TRUE(seen.empty());
  std::uint64_t count = 0;
  for (auto& e : f.engines) count += e->refused();
  EXPECT_EQ(count, 3u);
}

}  // namespace
}  // namespace dm2::dht
