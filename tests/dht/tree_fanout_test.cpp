#include "dm2/dht/tree_fanout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>

#include "fanout_cluster.hpp"

namespace dm2::dht {
namespace {

using testing::fanout_cluster;

struct tree_outcome {
  std::vector<query_hit> hits;
  tree_progress progress;
  bool done = false;
  millis took{-1};
};

tree_outcome tree_query(fanout_cluster& f, int from, const std::string& id, millis timeout = millis(3000),
                        const std::string& body = "m") {
  tree_outcome out;
  auto start = f.c.time().now();
  f.trees[static_cast<std::size_t>(from)]->start(id, body, timeout,
      [&out, &f, start](const std::vector<query_hit>& hits, const tree_progress& p) {
        out.hits = hits;
        out.progress = p;
        out.done = true;
        out.took = f.c.time().now() - start;
      });
  f.c.run_for(timeout + millis(300));
  return out;
}

std::set<std::string> lfns(const std::vector<query_hit>& hits) {
  std::set<std::string> out;
  for (const auto& h : hits) out.insert(h.lfn);
  return out;
}

// The sites the querier itself sends the query to (one per bucket, largest bucket first),
// seen by wrapping every site's handler for one run.
std::vector<int> first_forwarders(fanout_cluster& f, int querier, const std::string& id, int n) {
  std::vector<int> seen;
  for (int i = 0; i < n; ++i) {
    auto* t = f.trees[static_cast<std::size_t>(i)].get();
    auto* q = f.engines[static_cast<std::size_t>(i)].get();
    auto querier_id = f.c.site(querier).id;
    f.c.net().attach_handler(f.c.site(i).id, {[t, q, i, querier_id, &seen](const std::string& from, const message& m) {
                                                if (std::holds_alternative<subtree_request>(m) && from == querier_id) seen.push_back(i);
                                                q->on_message(from, m);
                                                t->on_message(from, m);
                                              },
                                              [t] { t->tick(); }});
  }
  tree_query(f, querier, id);
  for (int i = 0; i < n; ++i) f.attach(i, f.c.members());
  // Largest bucket first: the fewest leading bits shared with the querier.
  auto shared_bits = [&](int i) {
    auto d = distance(node_id_of_public_key(f.c.site(i).id), node_id_of_public_key(f.c.site(querier).id));
    int bits = 0;
    for (auto byte : d) {
      if (byte) return bits + std::countl_zero(byte);
      bits += 8;
    }
    return bits;
  };
  std::sort(seen.begin(), seen.end(), [&](int a, int b) { return shared_bits(a) < shared_bits(b); });
  return seen;
}

TEST(tree_fanout, reaches_every_live_site_once_and_returns_what_one_to_all_returns) {
  fanout_cluster f(40);
  auto requests = [&f] { return f.c.net().sent_by_type()[message(subtree_request{}).index()]; };
  auto answers = [&f] { return f.c.net().sent_by_type()[message(subtree_answer{}).index()]; };
  auto out = tree_query(f, 0, "t1");
  // One request to every other site: no site is asked twice. One answer from each, and a
  // second from each forwarder (its own hits first, then its subtree's).
  EXPECT_EQ(requests(), 39u);
  EXPECT_GT(answers(), 39u);
  EXPECT_LT(answers(), 78u);
  ASSERT_TRUE(out.done);
  EXPECT_FALSE(out.progress.deadline_passed);
  EXPECT_EQ(out.progress.reached, 40u);
  EXPECT_TRUE(out.progress.uncovered.empty());
  EXPECT_FALSE(out.progress.second_pass);
  EXPECT_EQ(static_cast<int>(out.hits.size()), f.expected);
  // 40 sites: ~log2(40) levels of one round trip each, not the deadline.
  EXPECT_LT(out.took, millis(300));
  EXPECT_EQ(f.trees[0]->running(), 0u);
  for (auto& t : f.trees) EXPECT_EQ(t->running(), 0u);  // every subtree answered and was dropped
}

TEST(tree_fanout, merging_per_subtree_top_k_gives_the_one_to_all_top_k) {
  fanout_cluster f(30);
  for (const char* body : {"m/1", "m/4", "m/25"}) {
    auto tree = tree_query(f, 3, std::string("t-") + body, millis(3000), body);
    auto all = f.query(3, millis(3000), body);
    ASSERT_TRUE(tree.done);
    ASSERT_TRUE(all.last.done);
    // One-to-all streams every site's top k; the consortium's top k are the best k of those.
    std::vector<query_hit> merged;
    for (const auto& [lfn, times] : all.seen) {
      auto n = std::stod(lfn.substr(lfn.find('/') + 1));
      merged.push_back(query_hit{lfn, lfn.substr(0, lfn.find('/')), n, {}});
    }
    std::size_t k = std::stoul(std::string(body).substr(2));
    keep_best(merged, k);
    ASSERT_EQ(tree.hits.size(), k) << body;
    for (std::size_t i = 0; i < k; ++i) {
      EXPECT_EQ(tree.hits[i].lfn, merged[i].lfn) << body << " rank " << i;
      EXPECT_EQ(tree.hits[i].score, merged[i].score);
    }
  }
}

TEST(tree_fanout, failed_inner_nodes_are_routed_around_before_the_deadline) {
  const int n = 64;
  fanout_cluster f(n);
  auto forwarders = first_forwarders(f, 0, "t-inner", n);
  ASSERT_GE(forwarders.size(), 5u);  // ~log2(64) buckets
  // The querier's children for its three largest buckets die silently: still in every view.
  std::set<std::string> silent;
  for (int i = 0; i < 3; ++i) {
    f.c.net().set_alive(f.c.site(forwarders[static_cast<std::size_t>(i)]).id, false);
    silent.insert(f.c.site(forwarders[static_cast<std::size_t>(i)]).id);
  }
  auto out = tree_query(f, 0, "t-inner", millis(4000));
  ASSERT_TRUE(out.done);
  EXPECT_FALSE(out.progress.deadline_passed);
  EXPECT_LT(out.took, millis(4000));
  // Every live site answered its own records; the silent ones are named, and nothing else.
  EXPECT_EQ(out.progress.reached, static_cast<std::size_t>(n) - silent.size());
  ASSERT_EQ(out.progress.uncovered.size(), silent.size());
  for (const auto& p : out.progress.uncovered) {
    EXPECT_EQ(p.bits, 160);
    int inside = 0;
    for (const auto& s : silent) inside += in_prefix(node_id_of_public_key(s), p);
    EXPECT_EQ(inside, 1);
  }
  // The second pass brought their records back from the copies: nothing missing.
  EXPECT_TRUE(out.progress.second_pass);
  EXPECT_TRUE(out.progress.second_uncovered.empty());
  EXPECT_EQ(static_cast<int>(lfns(out.hits).size()), f.expected);
  std::uint64_t resent = 0;
  for (auto& t : f.trees) resent += t->resent();
  EXPECT_GE(resent, 3u);
}

// A child that went silent and then left the views while its bucket was re-sent: the holders
// that answered before it left did not answer for its records, so it is still named uncovered
// (by the id it was asked under) and the second pass asks for them.
TEST(tree_fanout, a_silent_child_that_leaves_the_view_mid_query_is_still_reported) {
  const int n = 64;
  fanout_cluster f(n);
  auto forwarders = first_forwarders(f, 0, "t-left-probe", n);
  ASSERT_FALSE(forwarders.empty());
  auto gone = f.c.site(forwarders.front()).id;
  f.c.net().set_alive(gone, false);
  tree_outcome out;
  f.trees[0]->start("t-left", "m", millis(3000), [&out](const std::vector<query_hit>& hits, const tree_progress& p) {
    out.hits = hits;
    out.progress = p;
    out.done = true;
  });
  f.c.run_for(millis(150));  // the others have answered; its bucket is not re-sent yet (hop: 200 ms)
  ASSERT_FALSE(out.done);
  f.c.members().set_live(gone, false);
  f.c.run_for(millis(3300));
  ASSERT_TRUE(out.done);
  EXPECT_FALSE(out.progress.deadline_passed);
  ASSERT_EQ(out.progress.uncovered.size(), 1u);
  EXPECT_EQ(out.progress.uncovered[0], (id_prefix{node_id_of_public_key(gone), 160}));
  EXPECT_TRUE(out.progress.second_pass);
  EXPECT_EQ(static_cast<int>(lfns(out.hits).size()), f.expected);
}

// A site that left the view just before a forwarder got the query, whose records' holders may
// have answered while they still saw it live: the forwarder whose part holds it reports it for
// a while (a hop per tree level), so the second pass asks for its records; not afterwards.
TEST(tree_fanout, a_site_that_left_the_view_lately_is_reported_for_its_holders_to_answer) {
  const int n = 32;
  fanout_cluster f(n);
  auto forwarders = first_forwarders(f, 0, "t-gone-probe", n);
  auto gone = f.c.site(forwarders.back()).id;  // the querier's smallest bucket: that site alone
  f.c.net().set_alive(gone, false);
  f.c.members().set_live(gone, false);
  f.c.run_for(millis(100));  // the querier notices it at a tick
  auto recent = tree_query(f, 0, "t-gone-recent");
  ASSERT_TRUE(recent.done);
  ASSERT_EQ(recent.progress.uncovered.size(), 1u);
  EXPECT_EQ(recent.progress.uncovered[0], (id_prefix{node_id_of_public_key(gone), 160}));
  EXPECT_TRUE(recent.progress.second_pass);
  EXPECT_EQ(static_cast<int>(lfns(recent.hits).size()), f.expected);
  f.c.run_for(millis(10'000));  // long past any query that could have started before it left
  auto later = tree_query(f, 0, "t-gone-later");
  ASSERT_TRUE(later.done);
  EXPECT_TRUE(later.progress.uncovered.empty());
  EXPECT_EQ(static_cast<int>(lfns(later.hits).size()), f.expected);  // its holders answered in the first pass
}

// A forwarder that just started may not know every live site yet. Splitting its part by that
// view would drop the sites it does not know of, silently; until its view settles it answers
// for itself and reports its part (and itself) uncovered, and the second pass goes round it.
TEST(tree_fanout, a_forwarder_whose_view_has_not_settled_reports_its_part_rather_than_drop_sites) {
  const int n = 32;
  auto run = [&](bool settling) {
    fanout_cluster f(n);
    auto forwarders = first_forwarders(f, 0, "t-young-probe", n);
    auto young = forwarders.front();  // the querier's largest bucket: about half the sites
    static_membership partial;        // it knows only itself
    for (const auto& s : f.c.members().live_sites())
      if (s.site_id == f.c.site(young).id) partial.add(s);
    auto& tree = f.trees[static_cast<std::size_t>(young)];
    tree = std::make_unique<tree_fanout>(f.c.site(young).id, tree_settings{}, f.collaborators(young, partial),
                                         *f.auths[static_cast<std::size_t>(young)], testing::plan);
    if (settling) tree->view_settles_at(f.c.time().now() + millis(60'000));
    f.attach(young, f.c.members());
    auto out = tree_query(f, 0, "t-young");
    EXPECT_TRUE(out.done);
    return std::make_pair(out, f.expected);
  };
  auto [dropped, expected] = run(false);
  EXPECT_TRUE(dropped.progress.uncovered.empty());  // the loss this guards against: silent
  EXPECT_LT(static_cast<int>(lfns(dropped.hits).size()), expected);
  auto [settling, expected_too] = run(true);
  EXPECT_FALSE(settling.progress.deadline_passed);
  EXPECT_EQ(settling.progress.uncovered.size(), 2u);  // its part, and its own id
  EXPECT_TRUE(settling.progress.second_pass);
  EXPECT_EQ(static_cast<int>(lfns(settling.hits).size()), expected_too);
}

TEST(tree_fanout, a_bucket_nobody_answers_for_is_reported_with_exactly_the_records_it_holds) {
  const int n = 32;
  tree_settings ts;
  ts.second_pass = false;
  fanout_cluster f(n, ts);
  // The querier's last (smallest) bucket: one site, with nobody to re-send to.
  auto forwarders = first_forwarders(f, 0, "t-leaf", n);
  auto leaf = forwarders.back();
  f.c.net().set_alive(f.c.site(leaf).id, false);
  auto out = tree_query(f, 0, "t-leaf");
  ASSERT_TRUE(out.done);
  EXPECT_FALSE(out.progress.deadline_passed);
  ASSERT_EQ(out.progress.uncovered.size(), 1u);
  EXPECT_TRUE(in_prefix(node_id_of_public_key(f.c.site(leaf).id), out.progress.uncovered[0]));
  EXPECT_EQ(out.progress.reached, static_cast<std::size_t>(n - 1));
  // What is missing is exactly the silent site's matching records (10 of its 20).
  auto got = lfns(out.hits);
  EXPECT_EQ(static_cast<int>(got.size()), f.expected - 10);
  for (const auto& lfn : got) EXPECT_NE(lfn.substr(0, lfn.find('/')), f.c.site(leaf).id);
}

TEST(tree_fanout, the_same_run_twice_gives_the_same_answer_and_messages) {
  auto run = [] {
    fanout_cluster f(48);
    for (int i : {5, 17, 30}) f.c.net().set_alive(f.c.site(i).id, false);
    auto before = f.c.net().messages_sent();
    auto out = tree_query(f, 2, "t-same");
    std::vector<std::string> uncovered;
    for (const auto& p : out.progress.uncovered) uncovered.push_back(to_hex(p.id) + "/" + std::to_string(p.bits));
    return std::tuple(lfns(out.hits), out.progress.reached, uncovered, out.took, f.c.net().messages_sent() - before);
  };
  auto a = run();
  EXPECT_EQ(a, run());
  EXPECT_EQ(std::get<1>(a), 45u);
}

TEST(tree_fanout, a_forwarder_cannot_change_the_query_and_forged_queries_reach_nobody) {
  fanout_cluster f(12);
  f.auths[1]->liars.insert(f.c.site(1).id);
  auto out = tree_query(f, 1, "t-forged", millis(1000));
  ASSERT_TRUE(out.done);
  EXPECT_EQ(out.progress.reached, 1u);  // itself only
  EXPECT_FALSE(out.progress.uncovered.empty());
  // A correctly signed request whose body a forwarder changed is refused, as is one claiming a
  // cover the receiver is not in.
  subtree_request r{"t-x", "m", "", 0, f.c.site(0).id, 7, {}, 1000, {}, {}};
  r.signature = r.query_id + "|m|0";
  auto before = f.trees[2]->refused();
  auto widened = r;
  widened.body = "m/1000";
  f.trees[2]->on_message(f.c.site(3).id, widened);
  EXPECT_EQ(f.trees[2]->refused(), before + 1);
  auto elsewhere = r;
  elsewhere.cover = id_prefix{node_id_of_public_key(f.c.site(2).id), 160};
  elsewhere.cover.id[19] ^= 1;
  f.trees[2]->on_message(f.c.site(3).id, elsewhere);
  EXPECT_EQ(f.trees[2]->refused(), before + 2);
  EXPECT_EQ(f.trees[2]->running(), 0u);
  // Answers from a site nobody asked are ignored.
  before = f.trees[0]->refused();
  f.trees[0]->on_message(f.c.site(4).id, subtree_answer{"t-x", 12345, {{"x", "y", 1, {}}}, 1, {}, true});
  EXPECT_EQ(f.trees[0]->refused(), before + 1);
}

// A site back with an empty disk: without the restoring signal a tree query misses its records
// until anti-entropy gives them back; with it, the site answers and lists itself as restoring,
// and the second pass asks the holders of its records' copies — also when the querier itself is
// restoring. It counts as answered (and hedged), as in the one-to-all.
TEST(tree_fanout, a_restoring_sites_records_come_from_their_holders) {
  fanout_cluster f(16);
  const int own_matches = 10;
  f.c.site(3).store = memory_replica_store{};
  auto before = tree_query(f, 0, "t-wiped");
  ASSERT_TRUE(before.done);
  EXPECT_EQ(static_cast<int>(before.hits.size()), f.expected - own_matches);

  // Site 3 restoring, then the querier as well (site 3 may not have all its records back yet).
  std::vector<std::string> restoring_sites;
  for (int restoring : {3, 0}) {
    f.c.site(restoring).store = memory_replica_store{};
    f.trees[static_cast<std::size_t>(restoring)]->restoring_until(f.c.time().now() + millis(10'000));
    restoring_sites.push_back(f.c.site(restoring).id);
    auto out = tree_query(f, 0, "t-restoring-" + std::to_string(restoring));
    ASSERT_TRUE(out.done);
    EXPECT_FALSE(out.progress.deadline_passed);
    EXPECT_TRUE(out.progress.second_pass);
    EXPECT_EQ(static_cast<int>(out.hits.size()), f.expected) << restoring;
    EXPECT_TRUE(out.progress.uncovered.empty());
    EXPECT_EQ(out.progress.restoring.size(), restoring_sites.size());
    EXPECT_TRUE(out.progress.second_uncovered.empty());
    auto p = progress_of(out.progress, f.c.members().live_sites());
    EXPECT_EQ(p.answered, 16u);
    EXPECT_TRUE(p.missed_sites.empty());
    std::set<std::string> hedged(p.hedged_sites.begin(), p.hedged_sites.end());
    EXPECT_EQ(hedged, std::set<std::string>(restoring_sites.begin(), restoring_sites.end()));
  }
}

// A freshly started consortium is all restoring: more restoring sites than an answer may list
// become the whole part a subtree covers, so the answers stay within bounds (a parent refuses
// longer lists) and the second pass asks every holder.
TEST(tree_fanout, more_restoring_sites_than_a_list_holds_become_their_whole_subtree) {
  tree_settings ts;
  ts.max_listed = 2;
  fanout_cluster f(16, ts);
  for (int i = 0; i < 16; ++i) f.trees[static_cast<std::size_t>(i)]->restoring_until(f.c.time().now() + millis(10'000));
  f.c.site(5).store = memory_replica_store{};  // one of them really lost its records
  auto out = tree_query(f, 0, "t-all-restoring");
  ASSERT_TRUE(out.done);
  EXPECT_FALSE(out.progress.deadline_passed);
  EXPECT_EQ(out.progress.reached, 16u);
  EXPECT_TRUE(out.progress.second_pass);
  EXPECT_LE(out.progress.restoring.size(), 2u);
  EXPECT_EQ(static_cast<int>(out.hits.size()), f.expected);
  for (const auto& t : f.trees) EXPECT_EQ(t->refused(), 0u);
  auto p = progress_of(out.progress, f.c.members().live_sites());
  EXPECT_EQ(p.answered, 16u);
  EXPECT_EQ(p.hedged, 16u);
}

// Each site signs its own hits; a parent refuses a hit altered or invented on the way, so a
// forwarder can drop what it relays but not change it.
TEST(tree_fanout, hits_altered_by_a_forwarder_or_signed_wrong_are_refused) {
  fanout_cluster f(24);
  auto honest = tree_query(f, 0, "t-honest");
  ASSERT_EQ(static_cast<int>(honest.hits.size()), f.expected);
  for (const auto& h : honest.hits) EXPECT_EQ(h.signer, h.lfn.substr(0, h.lfn.find('/')));

  // Whatever reaches the querier from a child, but was answered further down, arrives with a
  // raised score: as if the child had altered the hits it relays.
  auto* querier_tree = f.trees[0].get();
  f.c.net().attach_handler(f.c.site(0).id, {[querier_tree](const std::string& from, const message& m) {
                                              auto copy = m;
                                              if (auto* a = std::get_if<subtree_answer>(&copy))
                                                for (auto& h : a->hits)
                                                  if (h.signer != from) h.score += 100;
                                              querier_tree->on_message(from, copy);
                                            },
                                            [querier_tree] { querier_tree->tick(); }});
  auto before = querier_tree->refused();
  auto altered = tree_query(f, 0, "t-altered");
  ASSERT_TRUE(altered.done);
  EXPECT_GT(querier_tree->refused(), before);
  EXPECT_LT(altered.hits.size(), honest.hits.size());
  for (const auto& h : altered.hits) EXPECT_LT(h.score, 100) << h.lfn;  // no altered score got through
  f.attach(0, f.c.members());

  // A site that signs its hits wrong loses exactly its own hits.
  f.auths[5]->liars.insert(f.c.site(5).id);
  auto out = tree_query(f, 0, "t-liar");
  EXPECT_EQ(static_cast<int>(out.hits.size()), f.expected - 10);
  for (const auto& h : out.hits) EXPECT_NE(h.signer, f.c.site(5).id);
}

// In the one-to-all's terms: reached sites answered, the first pass's misses are covered by the
// second pass (hedged), and nothing is missed.
TEST(tree_fanout, progress_names_each_site_as_the_one_to_all_does) {
  fanout_cluster f(32);
  auto live = f.c.members().live_sites();
  for (int i : {7, 19}) f.c.net().set_alive(f.c.site(i).id, false);
  auto out = tree_query(f, 0, "t-progress");
  ASSERT_TRUE(out.done);
  auto p = progress_of(out.progress, live);
  EXPECT_TRUE(p.done);
  EXPECT_EQ(p.asked, 32u);
  EXPECT_EQ(p.answered, 30u);
  std::set<std::string> hedged(p.hedged_sites.begin(), p.hedged_sites.end());
  EXPECT_EQ(hedged, (std::set<std::string>{f.c.site(7).id, f.c.site(19).id}));
  EXPECT_TRUE(p.missed_sites.empty());
  // Without a second pass the same sites are missed, not covered.
  tree_progress first_only = out.progress;
  first_only.second_pass = false;
  first_only.second_uncovered.clear();
  auto q = progress_of(first_only, live);
  EXPECT_EQ(q.missed_sites.size(), 2u);
  EXPECT_EQ(q.hedged, 0u);
  // Nor when the second pass left out a site the first reached: its copies of their records did
  // not come back (bench/fanout_bench, 128 dm2d processes under load: hits missing while every
  // site counted answered or covered).
  auto whole_id = [&](int i) {  // the prefix that is site i's node id
    auto s = std::find_if(live.begin(), live.end(), [&](const site_info& x) { return x.site_id == f.c.site(i).id; });
    return id_prefix{s->id, 160};
  };
  tree_progress second_gap = out.progress;
  second_gap.second_uncovered.push_back(whole_id(3));
  auto g = progress_of(second_gap, live);
  EXPECT_EQ(g.answered, 30u);
  EXPECT_EQ(std::set<std::string>(g.missed_sites.begin(), g.missed_sites.end()),
            (std::set<std::string>{f.c.site(7).id, f.c.site(19).id}));
  EXPECT_EQ(g.hedged, 0u);
  // The dead sites themselves in the second pass's gaps are the usual case: still covered.
  tree_progress dead_only = out.progress;
  dead_only.second_uncovered = {whole_id(7), whole_id(19)};
  EXPECT_EQ(progress_of(dead_only, live).hedged, 2u);
}

// Children that take longer than the configured hop to answer (300 ms round trips against a
// 200 ms hop): with the hop fixed, healthy buckets are re-sent and queries go to a second pass;
// with the hop following the measured answer times, once measured, neither happens.
TEST(tree_fanout, the_hop_follows_measured_answer_times_so_slow_healthy_children_are_not_resent) {
  sim_network_settings slow;
  slow.latency = millis(150);
  slow.jitter = millis(20);
  auto run = [&](tree_settings ts) {
    fanout_cluster f(64, ts, slow);
    for (int q = 0; q < 4; ++q) tree_query(f, 0, "warm-" + std::to_string(q), millis(6000));
    std::uint64_t before = 0;
    for (auto& t : f.trees) before += t->resent();
    auto out = tree_query(f, 0, "measured", millis(6000));
    std::uint64_t resent = 0;
    for (auto& t : f.trees) resent += t->resent();
    EXPECT_TRUE(out.done);
    EXPECT_EQ(static_cast<int>(lfns(out.hits).size()), f.expected);
    return std::tuple{resent - before, out.progress.second_pass, f.trees[0]->current_hop()};
  };
  tree_settings fixed;
  fixed.max_hop = fixed.hop;
  auto [fixed_resent, fixed_second, fixed_hop] = run(fixed);
  EXPECT_GT(fixed_resent, 0u);
  EXPECT_TRUE(fixed_second);
  EXPECT_EQ(fixed_hop, millis(200));
  auto [resent, second, hop] = run(tree_settings{});
  EXPECT_EQ(resent, 0u);
  EXPECT_FALSE(second);
  EXPECT_GT(hop, millis(300));
  EXPECT_LE(hop, tree_settings{}.max_hop);
}

}  // namespace
}  // namespace dm2::dht
