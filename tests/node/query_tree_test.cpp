// Issue 13, item 4, on real processes: four dm2d nodes that send queries down the tree fan-out
// (overlay.tree_fanout_min_sites = 2: every query here). Each site signs its own hits and every
// parent checks them. The tree returns what the one-to-all does; with one site SIGKILLed while
// the querier still counts it live, its bucket goes to another member or comes back uncovered,
// and the second pass asks the copies of its records: the query is complete, before its deadline.
#include <filesystem>
#include <memory>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "query_processes.hpp"
#include "support/temp_dir.hpp"

namespace dm2::test {
namespace {

using namespace std::chrono_literals;

nlohmann::json overlay_view(process_consortium& sites, int site) {
  auto r = sites.request(site, "GET", "/v1/overlay", {}, site);
  return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json{{"query_traffic", nlohmann::json::object()}};
}

std::string state_of(const nlohmann::json& view, const std::string& site) {
  for (const auto& s : view["sites"])
    if (s["site"] == site) return s["state"];
  return "absent";
}

// Four running sites that send every query down the tree, each with 3 records held by all
// (`lfns`); `sites` is null on failure (reported).
struct tree_sites {
  tree_sites(const std::string& name, int octet) : dir(name) {
    auto created = process_consortium::create(
        dir.path(), {4, octet, "[overlay]\nliveness_timeout_s = 10\ntree_fanout_min_sites = 2\n"});
    if (!created) {
      ADD_FAILURE() << created.err().message;
      return;
    }
    if (!(*created)->start_all() || !all_see_each_other(**created)) {
      ADD_FAILURE() << "the 4 nodes did not start or did not see each other";
      return;
    }
    lfns = records_everywhere(**created, 3);
    if (!lfns.empty()) sites = std::move(*created);
  }
  temp_dir dir;
  std::set<std::string> lfns;
  std::unique_ptr<process_consortium> sites;
};

TEST(query_tree, reaches_every_site_with_signed_hits_and_covers_a_dead_one) {
  tree_sites consortium{"dm2-query-tree", 71};
  ASSERT_TRUE(consortium.sites);
  auto& sites = *consortium.sites;
  const auto& lfns = consortium.lfns;

  auto view = query_until_done(sites, 1, 10s);
  EXPECT_EQ(view["asked"], 4) << view.dump();
  EXPECT_EQ(view["answered"], 4) << view.dump();
  EXPECT_FALSE(view["deadline_passed"].get<bool>()) << view.dump();
  EXPECT_EQ(hit_lfns(view), lfns) << view.dump();
  EXPECT_NE(sites.stderr_text(1).find("event=query_tree"), std::string::npos) << "the query did not go down the tree";
  for (int site : {2, 3, 4}) EXPECT_EQ(sites.stderr_text(site).find("event=hit_refused"), std::string::npos) << site;
  // GET /v1/overlay counts the query's messages: the querier sent and received some, and once
  // none is in flight, what the four sent is what they received.
  auto traffic = [&](int site) { return overlay_view(sites, site)["query_traffic"]; };
  EXPECT_GE(traffic(1).value("messages_sent", 0), 1) << traffic(1).dump();
  EXPECT_GE(traffic(1).value("messages_received", 0), 1) << traffic(1).dump();
  EXPECT_GT(traffic(1).value("bytes_received", 0), traffic(1).value("messages_received", 0)) << traffic(1).dump();
  // The tree's allowance per level: measured on loopback, so at its 200 ms floor and never above 2 s.
  EXPECT_GE(traffic(1).value("tree_hop_ms", -1), 200) << traffic(1).dump();
  EXPECT_LE(traffic(1).value("tree_hop_ms", -1), 2000) << traffic(1).dump();
  EXPECT_TRUE(eventually(
      [&] {
        std::uint64_t sent = 0, received = 0, sent_bytes = 0, received_bytes = 0;
        for (int site : sites.all_sites()) {
          auto t = traffic(site);
          sent += t.value("messages_sent", std::uint64_t{0});
          received += t.value("messages_received", std::uint64_t{0});
          sent_bytes += t.value("bytes_sent", std::uint64_t{0});
          received_bytes += t.value("bytes_received", std::uint64_t{0});
        }
        return sent >= 3 && sent == received && sent_bytes == received_bytes;
      },
      10s));

  sites.kill(3);
  view = query_until_done(sites, 1, 10s);
  EXPECT_EQ(view["asked"], 4) << view.dump();  // still live in the querier's view
  EXPECT_EQ(view["answered"], 3) << view.dump();
  EXPECT_FALSE(view["deadline_passed"].get<bool>()) << view.dump();
  EXPECT_EQ(hit_lfns(view), lfns) << view.dump();  // its records from their copies
  auto dead = sites.site_id(3);
  EXPECT_EQ(state_of(view, dead), "covered") << view.dump();
}

// A site restarted on a wiped disk answers a tree query with an empty store until anti-entropy
// gives its records back: it lists itself as restoring, and the second pass asks the holders of
// its records' copies. Its view has not settled either (a liveness period): asked to forward,
// it reports its part rather than drop the sites it has not heard from yet. The query right
// after its restart has every record; every site answered or was covered by its holders.
TEST(query_tree, a_site_back_on_a_wiped_disk_has_its_records_answered_by_their_holders) {
  tree_sites consortium{"dm2-query-tree-wiped", 72};
  ASSERT_TRUE(consortium.sites);
  auto& sites = *consortium.sites;
  const auto& lfns = consortium.lfns;

  ASSERT_TRUE(sites.stop(2));
  std::filesystem::remove_all(sites.site_dir(2) / "db");
  ASSERT_TRUE(sites.start({2}));
  ASSERT_TRUE(all_see_each_other(sites)) << "site 2 did not come back";
  auto view = query_until_done(sites, 1, 10s);
  EXPECT_FALSE(view["deadline_passed"].get<bool>()) << view.dump();
  EXPECT_EQ(hit_lfns(view), lfns) << view.dump();
  for (int site : sites.all_sites()) {
    auto state = state_of(view, sites.site_id(site));
    EXPECT_TRUE(state == "answered" || state == "covered") << state << " " << view.dump();
  }
  EXPECT_NE(sites.stderr_text(1).find("event=tree_second_pass"), std::string::npos);
}

// A site just restarted has not heard from every roster site yet: a query it started at once
// would go only to those it has heard from. It waits for its view (at most half the query's
// time), then names the site it still has not heard from — here one that is down, which the
// others already count down — and the records of that site come from their holders.
TEST(query_tree, a_query_from_a_site_just_restarted_waits_for_its_view_and_names_an_unheard_site) {
  tree_sites consortium{"dm2-query-tree-unheard", 73};
  ASSERT_TRUE(consortium.sites);
  auto& sites = *consortium.sites;
  const auto& lfns = consortium.lfns;

  ASSERT_TRUE(sites.stop(3));
  auto sees_two_peers = [&](int site) {
    auto r = sites.request(site, "GET", "/v1/overlay", {}, site);
    return r && r->status == 200 && nlohmann::json::parse(r->body)["live_peers"] == 2;
  };
  ASSERT_TRUE(eventually([&] { return sees_two_peers(2) && sees_two_peers(4); }, 60s));
  ASSERT_TRUE(sites.stop(1));
  ASSERT_TRUE(sites.start({1}));
  auto view = query_until_done(sites, 1, 15s);
  EXPECT_EQ(state_of(view, sites.site_id(3)), "unheard") << view.dump();
  EXPECT_FALSE(view["deadline_passed"].get<bool>()) << view.dump();
  EXPECT_EQ(hit_lfns(view), lfns) << view.dump();  // site 3's records from their holders
  EXPECT_NE(sites.stderr_text(1).find("event=query_view_unsettled"), std::string::npos);
}

}  // namespace
}  // namespace dm2::test
