// dm2-sim's latency model: the one-way delay between two sites before per-message jitter.
// Three forms, chosen by the scenario (docs/simulator.md, "Latency model"):
//   - one number for every pair (network.latency_ms), as before;
//   - per region pair: a round-trip time within a region, and for each pair of regions one drawn
//     once per run from inter_region_rtt_ms x uniform[1 - spread, 1 + spread] (seeded);
//   - a matrix file: round-trip times in ms, CSV, sites x sites or regions x regions.
// Sites are assigned to regions round-robin (site i in region i mod regions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dm2/dht/clock.hpp"

namespace dm2::sim {

struct latency_settings {
  int sites = 0;
  int regions = 1;
  double latency_ms = 20;          // one way, every pair, when neither form below is set
  double intra_region_rtt_ms = 0;  // > 0 with inter_region_rtt_ms: the per-region-pair form
  double inter_region_rtt_ms = 0;
  double rtt_spread = 0;           // 0..1
  std::string matrix_file;         // the matrix form
  std::uint64_t seed = 1;
};

// Reads a round-trip-time matrix: `n` rows of `n` comma-separated non-negative numbers (ms);
// blank lines and lines starting with '#' are skipped. Returns an empty string, or the error
// naming the file, row and column.
std::string read_rtt_matrix(const std::string& file, std::size_t n, std::vector<double>& rtt_ms);

class latency_model {
 public:
  // Returns an empty string, or the error (a bad matrix file).
  std::string load(const latency_settings& s);
  bool per_pair() const { return width_ > 0; }  // else every pair has the same base latency
  int region_of(int site) const { return site % regions_; }
  // One-way delay from site `from` to site `to` (indices), half the round trip.
  dm2::dht::millis one_way(int from, int to) const;

 private:
  int regions_ = 1;
  std::size_t width_ = 0;       // of rtt_ms_: sites, regions, or 0 (one number)
  bool by_region_ = false;
  std::vector<double> rtt_ms_;  // width_ x width_
  double constant_ms_ = 0;
};

}  // namespace dm2::sim
