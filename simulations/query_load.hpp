// dm2-sim's queries: every site runs the node's own query fan-out (dht::query_fanout, hedging to
// replica holders included) over the simulated network; the driver starts queries from random
// live sites, and this class measures each one: completeness (the share of the expected hits —
// records with a live copy when the query starts — that came back, hedged answers included) and
// latency (from start until the fan-out says done: every asked site answered or was covered by
// its replica holders, or the deadline passed).
//
// A query asks for one tag: the records whose LFN ends in a number n with n mod 10 = tag (a tenth
// of them). Signatures are not simulated (every query verifies).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dm2/dht/query_fanout.hpp"
#include "dm2/sim/sim_network.hpp"

namespace dm2::sim {

constexpr int query_tags = 10;
// The tag of an LFN "<owner>/<letter><n>": n mod 10 (-1 when it has no number).
int tag_of(const std::string& lfn);

struct query_result {
  double start_s = 0;
  std::string querier;
  long latency_ms = 0;
  std::size_t expected = 0, returned = 0;  // returned: of the expected
  std::size_t asked = 0, answered = 0, hedged = 0;
  bool deadline_passed = false;
};

class query_load {
 public:
  query_load(dm2::dht::manual_clock& time, dm2::dht::sim_network& net, const dm2::dht::membership& members,
             dm2::dht::millis timeout, std::size_t replicas);
  ~query_load();
  // Gives `site` its fan-out engine, answering from `store`.
  void attach(const std::string& site, dm2::dht::replica_store& store);
  // Starts a query from `querier` (live) for `tag`; `expected`: the LFNs a complete answer holds.
  void start(const std::string& querier, int tag, std::unordered_set<std::string> expected);
  // Ticks the engines with running queries (hedges, deadlines): the node does every 250 ms.
  void tick();

  const std::vector<query_result>& results() const { return results_; }  // in completion order
  std::size_t incomplete() const { return incomplete_; }
  std::uint64_t hedges() const;
  // Per query (results' order), and the latency CDF (percentiles 0..100). False if unwritable.
  bool write_results(const std::string& path) const;
  bool write_cdf(const std::string& path) const;
  // One line: count, completeness, latency p50/p99, deadline misses.
  std::string summary() const;

 private:
  struct running {
    query_result r;
    dm2::dht::millis started{0};
    std::unordered_set<std::string> missing;  // expected, not yet returned
  };
  void finish(const std::string& id, const dm2::dht::query_progress& p);
  std::vector<long> sorted_latencies() const;

  dm2::dht::manual_clock& time_;
  dm2::dht::sim_network& net_;
  const dm2::dht::membership& members_;
  dm2::dht::millis timeout_;
  std::size_t replicas_;
  std::unique_ptr<dm2::dht::query_authenticator> auth_;
  std::unordered_map<std::string, std::unique_ptr<dm2::dht::query_fanout>> engines_;
  std::unordered_map<std::string, running> running_;  // by query id
  std::unordered_map<std::string, std::size_t> busy_;  // querier -> running queries
  std::vector<query_result> results_;
  std::size_t incomplete_ = 0;
  std::uint64_t next_id_ = 0;
};

}  // namespace dm2::sim
