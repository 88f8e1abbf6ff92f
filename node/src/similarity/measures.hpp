// Similarity measures between two volumes on the same grid (normally two normalised volumes,
// resample.hpp): what stage 2 of a query computes where the images are (issue 11).
// docs/similarity.md states the definitions, bins and binning. `query` and `candidate` are
// symmetric for NCC and MI; CR is directed (see there). Pure; thread-safe.
// Errors (each): malformed_input (check_volume), invalid_argument (dimensions differ, bins out of
// 2..256; NCC: either volume without variation, CR: a query without variation - undefined).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "volume.hpp"

namespace dm2::similarity {

inline constexpr std::size_t default_bins = 32;

// Pearson correlation of the voxel values, in [-1, 1]; 1 for identical volumes.
result<double> normalised_cross_correlation(const volume& query, const volume& candidate);

// A volume's values in `bins` equal-frequency bins: bin = rank * bins / n, a value's rank being
// the number of values strictly below it (equal values share a bin). What MI histograms; stage 2
// bins its query volume once per request and pairs it with every candidate.
struct binned_volume {
  std::array<std::size_t, 3> dims{};
  std::size_t bins = 0;
  std::vector<std::uint16_t> index;  // each voxel's bin, in voxel order
};
// Errors: malformed_input (check_volume), invalid_argument (bins out of 2..256).
result<binned_volume> bin_volume(const volume& v, std::size_t bins = default_bins);

// Mutual information in nats from the joint histogram: each volume's values in `bins`
// equal-frequency bins (bin_volume), every voxel pair adding 1 to one cell
// (nearest bin, no partial volume). >= 0; the binned entropy, at most ln(bins), for identical
// volumes; symmetric; unchanged by any strictly increasing intensity remap of either volume.
result<double> mutual_information(const volume& query, const volume& candidate,
                                  std::size_t bins = default_bins);
// The same on volumes binned already (bin_volume). Errors: invalid_argument (dimensions or bin
// counts differ).
result<double> mutual_information(const binned_volume& query, const binned_volume& candidate);

// Correlation ratio eta^2(query | candidate) (Roche, Malandain, Pennec, Ayache, MICCAI 1998): the
// share of the query's variance explained by the candidate's intensity classes (`bins`
// equal-frequency bins of the candidate, as for MI); in [0, 1]. The candidate's intensities only
// matter through its classes, so a strictly increasing remap of the candidate (another scanner or
// protocol) does not change it; directed: cr(a, b) != cr(b, a) in general.
result<double> correlation_ratio(const volume& query, const volume& candidate,
                                 std::size_t bins = default_bins);

}  // namespace dm2::similarity
