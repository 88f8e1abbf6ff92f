// dm2-sim's side of the calibration against the real overlay (issue 13, item 5;
// docs/simulator.md, "Calibration"): the measures bench/overlay_bench takes on 16 dm2d processes,
// taken the same way here, written as the same "measure,value" rows so that bench/sim_bench.sh
// compares them with one script:
//   replicas         a write (load.write_rate_per_s) until its k placement holders hold it;
//   fanout           a one-to-all query until done (from the query load's results);
//   restore          the kill of burst.sites (burst.at_s) until every surviving record is on its
//                    k closest live sites (the real bench's test, sampled every run.sample_s);
//   repair_messages, repair_rounds  replicator messages and rounds of the live sites over that
//                    time (the real node's repair_messages and repair_rounds in GET /v1/overlay are
//                    the same counters);
//   repair_records   records short of k live replicas right after the kill.
// Writes and queries count from the first sample with every record on its k holders (the initial
// records are all pushed at 0 s: with a processing cost their holders' queues take seconds to
// drain) until the kill: the real bench measures them on a consortium at rest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dm2/dht/clock.hpp"
#include "query_load.hpp"

namespace dm2::sim {

// The live sites' replicator counters, summed.
struct repair_work {
  std::uint64_t messages = 0, rounds = 0;
};

class calibration {
 public:
  // A write at `at` whose placement holders are `targets` (not counted after the kill).
  void wrote(const std::string& lfn, std::vector<std::string> targets, dht::millis at);
  // A copy of `lfn` landed at `site` at `at` (the copy_map's observer).
  void copied(const std::string& lfn, const std::string& site, dht::millis at);
  // The burst: `short_records` lack a live placement holder; `work`: the live sites' so far.
  void killed(dht::millis at, std::size_t short_records, repair_work work);
  bool restoring() const { return killed_at_ && !restored_; }
  bool at_rest() const { return rest_.has_value(); }
  // A sample before the consortium was at rest, or while restoring: nothing short any more
  // starts the measures, or ends the restore.
  void sampled(dht::millis at, std::size_t short_records, repair_work work);
  // Writes every row, the fan-out's from `queries` (one-to-all, started before the kill).
  // False when `path` cannot be written.
  bool write(const std::string& path, const std::vector<query_result>& queries) const;

 private:
  struct pending {
    dht::millis started{0};
    std::unordered_set<std::string> missing;
  };
  std::unordered_map<std::string, pending> pending_;  // by lfn
  std::vector<double> replicas_ms_;
  std::optional<dht::millis> rest_;
  std::optional<dht::millis> killed_at_;
  std::optional<dht::millis> restored_;
  std::size_t short_records_ = 0;
  repair_work at_kill_, repair_;
};

}  // namespace dm2::sim
