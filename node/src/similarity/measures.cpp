#include "measures.hpp"

#include <algorithm>
#include <array>
#include <bit>
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
// increasing remap of the values leaves every bin unchanged. The values are ranked by an LSD radix
// sort of (order-preserving 32-bit key of the float, position): 4 linear passes where a
// comparison sort took 6-8 times as long (stage 2's MI was mostly this); equal floats are adjacent
// either way (-0 and +0 have adjacent keys), so a run of equal values takes the rank of its first.
std::vector<std::uint16_t> bin_indices(const std::vector<float>& x, std::size_t bins) {
  const std::size_t n = x.size();
  std::vector<std::uint64_t> keyed(n), scratch(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto u = std::bit_cast<std::uint32_t>(x[i]);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // negative floats reversed, below the positive
    keyed[i] = (std::uint64_t{u} << 32) | i;
  }
  for (int shift = 32; shift < 64; shift += 8) {  // the key's 4 bytes, lowest first (stable)
    std::array<std::size_t, 257> start{};
    for (auto k : keyed) ++start[((k >> shift) & 0xff) + 1];
    for (std::size_t d = 0; d < 256; ++d) start[d + 1] += start[d];
    for (auto k : keyed) scratch[start[(k >> shift) & 0xff]++] = k;
    keyed.swap(scratch);
  }
  std::vector<std::uint16_t> out(n);
  std::size_t rank = 0;
  for (std::size_t p = 0; p < n; ++p) {
    const auto at = static_cast<std::uint32_t>(keyed[p]);
    if (p > 0 && x[at] != x[static_cast<std::uint32_t>(keyed[p - 1])]) rank = p;
    out[at] = static_cast<std::uint16_t>(rank * bins / n);
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

result<binned_volume> bin_volume(const volume& v, std::size_t bins) {
  if (auto s = check_volume(v); !s) return std::move(s).err();
  if (auto s = check_bins(bins); !s) return std::move(s).err();
  return binned_volume{v.dims, bins, bin_indices(v.voxels, bins)};
}

result<double> mutual_information(const volume& query, const volume& candidate, std::size_t bins) {
  if (auto s = check_pair(query, candidate); !s) return std::move(s).err();
  auto a = bin_volume(query, bins);
  if (!a) return std::move(a).err();
  auto b = bin_volume(candidate, bins);
  if (!b) return std::move(b).err();
  return mutual_information(*a, *b);
}

result<double> mutual_information(const binned_volume& query, const binned_volume& candidate) {
  if (query.dims != candidate.dims || query.index.size() != candidate.index.size())
    return fail(errc::invalid_argument,
                "the volumes' dimensions differ (resample both to one grid first)");
  if (query.bins != candidate.bins) return fail(errc::invalid_argument, "the volumes are binned differently");
  const std::size_t bins = query.bins;
  const auto& a = query.index;
  const auto& b = candidate.index;
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
