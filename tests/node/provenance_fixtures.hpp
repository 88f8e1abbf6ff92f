// Stage-2 scores and provenance records for the unit tests of the wire and the result cache.
#pragma once

#include <cstdint>
#include <string>

#include "provenance/provenance_record.hpp"
#include "stage_two.hpp"

namespace dm2::node::testing {

inline stage_two_score scored(const std::string& lfn, double score, std::uint64_t series_version) {
  auto s = missing_score(lfn, "");
  s.score = score;
  s.series_version = series_version;
  return s;
}

// The record mi/1 would leave for `lfn` at `series_version`, computed by `site`.
inline provenance_record provenance_of(const std::string& lfn, double score, std::uint64_t series_version,
                                       const std::string& site) {
  provenance_record p;
  p.id = std::string(31, '0') + lfn.substr(0, 1);
  p.algorithm = "mi";
  p.version = "1";
  p.parameters = {{"bins", "32"}, {"log", "natural"}};
  p.query_volume_sha256 = std::string(64, 'e');
  p.grid = 32;
  p.lfn = lfn;
  p.series_version = series_version;
  p.score = score;
  p.computed_by = site;
  p.computed_at_ms = 1'764'000'000'000;
  p.first_query = std::string(32, 'f');
  return p;
}

}  // namespace dm2::node::testing
