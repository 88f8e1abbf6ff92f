// Similarity measures between two volumes on the same grid (normally two normalised volumes,
// resample.hpp): what stage 2 of a query computes where the images are (issue 11).
// docs/similarity.md states the definitions, bins and binning. `query` and `candidate` are
// symmetric for NCC and MI; CR is directed (see there). Pure; thread-safe.
// Errors (each): malformed_input (check_volume), invalid_argument (dimensions differ, bins out of
// 2..256; NCC and CR: a volume without variation, for which they are undefined).
#pragma once

#include <cstddef>

#include "volume.hpp"

namespace dm2::similarity {

inline constexpr std::size_t default_bins = 32;

// Pearson correlation of the voxel values, in [-1, 1]; 1 for identical volumes.
result<double> normalised_cross_correlation(const volume& query, const volume& candidate);

// Mutual information in nats from the joint histogram: each volume's values in `bins` equal-width
// bins over its own min..max (nearest bin: every voxel pair adds 1 to one cell). >= 0; equals
// the query's binned entropy for identical volumes; symmetric.
result<double> mutual_information(const volume& query, const volume& candidate, std::size_t bins = default_bins);

// Correlation ratio eta^2(candidate | query) (Roche, Malandain, Pennec, Ayache, MICCAI 1998): the
// share of the candidate's variance explained by the query's intensity classes (`bins`
// equal-width bins over the query's min..max); in [0, 1], near 1 when the candidate is any
// function of the query (an intensity remap of it).
result<double> correlation_ratio(const volume& query, const volume& candidate, std::size_t bins = default_bins);

}  // namespace dm2::similarity
