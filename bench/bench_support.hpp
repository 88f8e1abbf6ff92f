// What the benches share: wall-clock seconds, medians, counting fetched files. Header-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

namespace dm2::bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The value at fraction `p` (0..1) of the sorted samples (0.5: the median, 0.99: p99).
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

inline std::size_t count_files(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace dm2::bench
