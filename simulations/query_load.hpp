// dm2-sim's queries: every site runs the node's own query fan-out (dht::query_fanout, hedging to
// replica holders included) over the simulated network; the driver starts queries from random
// live sites, and this class measures each one: completeness (the share of the expected hits —
// records with a live copy when the query starts — that came back, hedged answers included) and
// latency (from start until the fan-out says done: every asked site answered or was covered by
// its replica holders, or the deadline passed).
//
// With the tree fan-out (dht::tree_fanout) instead, or both at once: each query then starts
// twice from the same querier at the same instant ("q<n>" one-to-all, "t<n>" tree), over the
// same network and churn. Every message of a query is counted (in total, sent by the querier,
// sent to it), whichever fan-out sent it.
//
// A query asks for one tag: the records whose LFN ends in a number n with n mod 10 = tag (a tenth
// of them). Signatures are not simulated (every query verifies).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dm2/dht/query_fanout.hpp"
#include "dm2/dht/tree_fanout.hpp"
#include "dm2/sim/sim_network.hpp"

namespace dm2::sim {

constexpr int query_tags = 10;
// The tag of an LFN "<owner>/<letter><n>": n mod 10 (-1 when it has no number).
int tag_of(const std::string& lfn);

enum class fanout_mode { all, tree, both };
// "all" | "tree" | "both"; nullopt for anything else.
std::optional<fanout_mode> fanout_mode_of(const std::string& name);

struct query_result {
  std::string fanout;  // "all" or "tree"
  double start_s = 0;
  std::string querier;
  long latency_ms = 0;
  std::size_t expected = 0, returned = 0;  // returned: of the expected
  std::size_t asked = 0, answered = 0, hedged = 0;
  bool deadline_passed = false;
  std::uint64_t querier_out = 0, querier_in = 0, messages = 0;  // this query's messages
  std::size_t uncovered = 0;         // tree: prefixes the first pass missed
  std::size_t second_uncovered = 0;  // tree: prefixes the second pass missed too
};

class query_load {
 public:
  query_load(dm2::dht::manual_clock& time, dm2::dht::sim_network& net, const dm2::dht::membership& members,
             dm2::dht::millis timeout, std::size_t replicas, fanout_mode mode = fanout_mode::all);
  ~query_load();
  // Gives `site` its fan-out engine, answering from `store`.
  void attach(const std::string& site, dm2::dht::replica_store& store);
  // `site` came back without its records: its answers say it is restoring until `until` (the
  // node does so when it starts with an empty store), in both fan-outs.
  void restoring(const std::string& site, dm2::dht::millis until);
  // Starts a query from `querier` (live) for `tag`; `expected`: the LFNs a complete answer holds.
  void start(const std::string& querier, int tag, std::unordered_set<std::string> expected);
  // Ticks the engines with running queries (hedges, deadlines): the node does every 250 ms.
  void tick();

  const std::vector<query_result>& results() const { return results_; }  // in completion order
  std::size_t incomplete() const { return incomplete_; }
  std::uint64_t hedges() const;
  std::uint64_t resends() const;  // tree buckets re-sent to another member
  // Per query (results' order), and the latency CDF (percentiles 0..100). False if unwritable.
  bool write_results(const std::string& path) const;
  bool write_cdf(const std::string& path) const;
  // One line per fan-out: count, completeness, latency p50/p99, deadline misses, querier load.
  std::string summary() const;

 private:
  struct running {
    query_result r;
    dm2::dht::millis started{0};
    std::unordered_set<std::string> missing;  // expected, not yet returned
  };
  // Counts each query's messages on their way to the network.
  class counting_transport;
  void count(const std::string& from, const std::string& to, const dm2::dht::message& m);
  void finish(const std::string& id, const std::string& querier);
  std::vector<long> sorted_latencies(const std::string& fanout) const;
  std::vector<std::string> fanouts() const;  // the fan-outs run: "all", "tree" or both

  dm2::dht::manual_clock& time_;
  dm2::dht::sim_network& net_;
  const dm2::dht::membership& members_;
  dm2::dht::millis timeout_;
  std::size_t replicas_;
  fanout_mode mode_;
  std::unique_ptr<dm2::dht::query_authenticator> auth_;
  std::unique_ptr<counting_transport> counted_;
  std::unordered_map<std::string, std::unique_ptr<dm2::dht::query_fanout>> engines_;
  std::unordered_map<std::string, std::unique_ptr<dm2::dht::tree_fanout>> trees_;
  std::vector<std::pair<std::string, dm2::dht::tree_fanout*>> tree_order_;  // by site id (sorted on use), for ticks
  bool tree_order_sorted_ = true;
  std::unordered_map<std::string, running> running_;  // by query id
  std::unordered_map<std::string, std::size_t> busy_;  // querier -> running one-to-all queries
  std::vector<query_result> results_;
  std::size_t incomplete_ = 0;
  std::uint64_t next_id_ = 0;
};

}  // namespace dm2::sim
