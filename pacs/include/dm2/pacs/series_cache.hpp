// Scratch cache of assembled series on local disk, keyed by LFN (the series' 128-bit
// pseudonym, 32 lowercase hex digits): <dir>/<lfn>/ holds whatever the fetcher wrote (DICOM
// files, NIfTI volume). Size-capped with least-recently-used eviction.
//
// Concurrent requests for one LFN run the fetcher once; the others wait and get its result.
// A fetch writes into a staging directory that becomes <dir>/<lfn> only on success, so a
// failed or interrupted fetch leaves nothing in the cache (leftover staging directories are
// removed when the cache opens). Thread-safe; one process per cache directory. A returned
// directory may be evicted by a later insertion: read or copy it promptly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::pacs {

struct cache_settings {
  std::filesystem::path dir;                        // created if absent
  std::uint64_t max_bytes = 20ull << 30;            // 20 GiB; least recently used go first
};

struct cached_series {
  std::filesystem::path dir;                 // <cache>/<lfn>
  std::vector<std::filesystem::path> files;  // regular files in it, sorted by name
  std::uint64_t bytes = 0;
};

// Fills `staging_dir` (empty, exists) with the series. Returning an error discards it.
using series_fetcher = std::function<status(const std::filesystem::path& staging_dir)>;

class series_cache {
 public:
  // Errors: invalid_config (empty dir or max_bytes 0), io_error (cannot create or scan dir).
  static result<series_cache> open(cache_settings settings);
  ~series_cache();
  series_cache(series_cache&&) noexcept;
  series_cache& operator=(series_cache&&) noexcept;

  // The cached series, fetched first if absent. Marks it most recently used.
  // Errors: invalid_argument (LFN not 32 lowercase hex digits), too_large (bigger than
  // max_bytes alone; not kept), io_error, and whatever the fetcher returned.
  result<cached_series> get_or_fetch(std::string_view lfn, const series_fetcher& fetch);

  // The cached series if present (marks it most recently used); nullopt otherwise.
  std::optional<cached_series> lookup(std::string_view lfn);

  // Drops one series. Errors: invalid_argument (bad LFN). Absent is not an error.
  status remove(std::string_view lfn);

  std::uint64_t size_bytes() const;  // what the cached series take now
  std::size_t count() const;         // how many series are cached

 private:
  struct impl;
  explicit series_cache(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::pacs
