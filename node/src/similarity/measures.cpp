#include "measures.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "query_scoring.hpp"

namespace dm2::similarity {
namespace {

status check_pair(const volume& a, const volume& b) {
  if (auto s = check_volume(a); !s) return s;
  if (auto s = check_volume(b); !s) return s;
  if (a.dims != b.dims)
    return fail(errc::invalid_argument,
                "the volumes' dimensions differ (resample both to one grid first)");
  return {};
}

status check_bins(std::size_t bins) {
  if (bins < 2 || bins > 256)
    return fail(errc::invalid_argument, "histogram bins must be 2 to 256");
  return {};
}

// Each value's bin among `bins` equal-frequency bins: rank * bins / n, where a value's rank is
// the number of values strictly below it, so equal values share a bin and any strictly
// increasing remap of the values leaves every bin unchanged.
std::vector<std::uint16_t> bin_indices(const std::vector<float>& x, std::size_t bins) {
  // One sort of (value, position) pairs; a run of equal values takes the rank of its first.
  std::vector<std::pair<float, std::uint32_t>> sorted(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) sorted[i] = {x[i], static_cast<std::uint32_t>(i)};
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint16_t> out(x.size());
  std::size_t rank = 0;
  for (std::size_t p = 0; p < sorted.size(); ++p) {
    if (p > 0 && sorted[p].first != sorted[p - 1].first) rank = p;
    out[sorted[p].second] = static_cast<std::uint16_t>(rank * bins / x.size());
  }
  return out;
}

}  // namespace

result<double> normalised_cross_correlation(const volume& query, const volume& candidate) {
  if (auto s = check_pair(query, candidate); !s) return std::move(s).err();
  auto r = node::ncc(query.voxels, candidate.voxels);
  if (!r) return fail(errc::invalid_argument, "NCC is undefined for a volume without variation");
  return *r;
}

result<double> mutual_information(const volume& query, const volume& candidate, std::size_t bins) {
  if (auto s = check_pair(query, candidate); !s) return std::move(s).err();
  if (auto s = check_bins(bins); !s) return std::move(s).err();
  auto a = bin_indices(query.voxels, bins), b = bin_indices(candidate.voxels, bins);
  std::vector<double> joint(bins * bins, 0.0), pa(bins, 0.0), pb(bins, 0.0);
  for (std::size_t v = 0; v < a.size(); ++v) {
    joint[a[v] * bins + b[v]] += 1;
    pa[a[v]] += 1;
    pb[b[v]] += 1;
  }
  const double n = static_cast<double>(a.size());
  double mi = 0;
  for (std::size_t i = 0; i < bins; ++i)
    for (std::size_t j = 0; j < bins; ++j)
      if (double c = joint[i * bins + j]; c > 0) mi += c / n * std::log(c * n / (pa[i] * pb[j]));
  return std::max(mi, 0.0);  // rounding may step just below 0 for independent volumes
}

result<double> correlation_ratio(const volume& query, const volume& candidate, std::size_t bins) {
  if (auto s = check_pair(query, candidate); !s) return std::move(s).err();
  if (auto s = check_bins(bins); !s) return std::move(s).err();
  auto classes = bin_indices(candidate.voxels, bins);
  const auto& y = query.voxels;
  std::vector<double> sum(bins, 0.0), count(bins, 0.0);
  double total = 0;
  for (std::size_t v = 0; v < y.size(); ++v) {
    sum[classes[v]] += y[v];
    count[classes[v]] += 1;
    total += y[v];
  }
  const double mean = total / static_cast<double>(y.size());
  double within = 0, all = 0;
  for (std::size_t v = 0; v < y.size(); ++v) {
    double class_mean = sum[classes[v]] / count[classes[v]];
    within += (y[v] - class_mean) * (y[v] - class_mean);
    all += (y[v] - mean) * (y[v] - mean);
  }
  if (!(all > 0))
    return fail(errc::invalid_argument,
                "the correlation ratio is undefined for a query without variation");
  return std::clamp(1.0 - within / all, 0.0, 1.0);
}

}  // namespace dm2::similarity
