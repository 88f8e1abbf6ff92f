// Issue 14, item 3, on real processes: three dm2d nodes (libtorrent sessions, RocksDB, mutual
// TLS); one is SIGKILLed and a query starts at once, while the querier still counts it live
// (liveness_timeout_s = 10). Its replica holders answer for it after the hedge delay: the query
// is complete, with every record, long before its 5 s deadline. How soon (the < 1.5 s goal) is
// a speed figure: bench/overlay_bench.sh measures it, not this test (it runs under ASan too).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "query_processes.hpp"
#include "support/temp_dir.hpp"

namespace dm2::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST(query_hedge, a_query_right_after_a_site_dies_is_complete_through_its_replica_holders) {
  temp_dir dir{"dm2-query-hedge"};
  auto created = process_consortium::create(dir.path(), {3, 76, "[overlay]\nliveness_timeout_s = 10\n"});
  ASSERT_TRUE(created) << created.err().message;
  auto& sites = **created;
  ASSERT_TRUE(sites.start_all());
  ASSERT_TRUE(all_see_each_other(sites)) << "the 3 nodes did not see each other";
  // Issue 14, item 4: the status states what the consortium survives (k = 5 by default, but
  // only 2 other sites hold copies here).
  auto status = nlohmann::json::parse(sites.request(1, "GET", "/v1/overlay", {}, 1)->body);
  EXPECT_EQ(status["replicas"], 5) << status.dump();
  EXPECT_EQ(status["survivable_failures"], 2) << status.dump();
  EXPECT_EQ(status["liveness_ms"], 10000) << status.dump();

  auto lfns = records_everywhere(sites, 4);
  ASSERT_FALSE(lfns.empty());

  sites.kill(3);
  auto killed_at = clock_type::now();
  auto view = query_until_done(sites, 1, 10s);
  auto took = std::chrono::duration<double>(clock_type::now() - killed_at).count();

  EXPECT_EQ(view["asked"], 3) << view.dump();  // the dead site was still asked
  EXPECT_EQ(view["answered"], 2) << view.dump();
  EXPECT_EQ(view["hedged"], 1) << view.dump();
  EXPECT_FALSE(view["deadline_passed"].get<bool>()) << view.dump();
  EXPECT_EQ(hit_lfns(view), lfns) << view.dump();
  // Without hedging it would wait for the dead site until the 5 s deadline.
  EXPECT_LT(took, 4.0) << "complete " << took << " s after the kill";
}

}  // namespace
}  // namespace dm2::test
