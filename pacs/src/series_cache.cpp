#include "dm2/pacs/series_cache.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "dm2/crypto/hash.hpp"

namespace dm2::pacs {
namespace fs = std::filesystem;

namespace {

bool valid_lfn(std::string_view lfn) {
  return lfn.size() == 32 &&
         std::all_of(lfn.begin(), lfn.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

constexpr std::string_view staging_prefix = ".staging-";

result<cached_series> describe(const fs::path& dir) {
  cached_series s;
  s.dir = dir;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    s.files.push_back(it->path());
    s.bytes += it->file_size(ec);
  }
  if (ec) return fail(errc::io_error, "cannot scan cached series: " + ec.message());
  std::sort(s.files.begin(), s.files.end());
  return s;
}

// One fetch in progress; waiters block on `done`.
struct inflight {
  bool finished = false;
  std::optional<result<cached_series>> outcome;
  std::condition_variable done;
};

}  // namespace

struct series_cache::impl {
  cache_settings settings;
  mutable std::mutex mutex;
  struct entry {
    std::uint64_t bytes = 0;
    std::uint64_t last_use = 0;
  };
  std::map<std::string, entry> entries;
  std::map<std::string, std::shared_ptr<inflight>> fetching;
  std::uint64_t clock = 0;
  std::uint64_t total = 0;

  // Evicts least recently used series (never `keep`) until the cap holds. Caller holds mutex.
  void evict(const std::string& keep) {
    while (total > settings.max_bytes) {
      auto victim = entries.end();
      for (auto it = entries.begin(); it != entries.end(); ++it)
        if (it->first != keep && (victim == entries.end() || it->second.last_use < victim->second.last_use))
          victim = it;
      if (victim == entries.end()) return;
      std::error_code ec;
      fs::remove_all(settings.dir / victim->first, ec);
      total -= victim->second.bytes;
      spdlog::info("event=cache_evicted bytes={}", victim->second.bytes);
      entries.erase(victim);
    }
  }
};

series_cache::series_cache(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
series_cache::~series_cache() = default;
series_cache::series_cache(series_cache&&) noexcept = default;
series_cache& series_cache::operator=(series_cache&&) noexcept = default;

result<series_cache> series_cache::open(cache_settings settings) {
  if (settings.dir.empty()) return fail(errc::invalid_config, "cache.dir is empty");
  if (settings.max_bytes == 0) return fail(errc::invalid_config, "cache.max_bytes must be > 0");
  std::error_code ec;
  fs::create_directories(settings.dir, ec);
  if (ec) return fail(errc::io_error, "cannot create the cache directory: " + ec.message());
  auto p = std::make_unique<impl>();
  p->settings = std::move(settings);
  // Existing series come back in modification-time order (oldest = least recently used).
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  for (auto it = fs::directory_iterator(p->settings.dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(staging_prefix, 0) == 0) {  // interrupted fetch: discard
      std::error_code rm;
      fs::remove_all(it->path(), rm);
      continue;
    }
    if (!valid_lfn(name) || !it->is_directory()) continue;
    found.emplace_back(fs::last_write_time(it->path(), ec), name);
  }
  if (ec) return fail(errc::io_error, "cannot scan the cache directory: " + ec.message());
  std::sort(found.begin(), found.end());
  for (const auto& [time, name] : found) {
    auto d = describe(p->settings.dir / name);
    if (!d) return d.err();
    p->entries[name] = {d->bytes, ++p->clock};
    p->total += d->bytes;
  }
  p->evict("");
  return series_cache(std::move(p));
}

std::optional<cached_series> series_cache::lookup(std::string_view lfn) {
  if (!valid_lfn(lfn)) return std::nullopt;
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->entries.find(std::string(lfn));
  if (it == impl_->entries.end()) return std::nullopt;
  it->second.last_use = ++impl_->clock;
  auto d = describe(impl_->settings.dir / it->first);
  if (!d) return std::nullopt;
  return *d;
}

result<cached_series> series_cache::get_or_fetch(std::string_view lfn_view, const series_fetcher& fetch) {
  if (!valid_lfn(lfn_view)) return fail(errc::invalid_argument, "LFN must be 32 lowercase hex digits");
  const std::string lfn(lfn_view);
  std::shared_ptr<inflight> job;
  {
    std::unique_lock lock(impl_->mutex);
    if (auto it = impl_->entries.find(lfn); it != impl_->entries.end()) {
      it->second.last_use = ++impl_->clock;
      return describe(impl_->settings.dir / lfn);
    }
    if (auto it = impl_->fetching.find(lfn); it != impl_->fetching.end()) {
      auto other = it->second;  // someone is fetching it: wait for their outcome
      other->done.wait(lock, [&] { return other->finished; });
      return *other->outcome;
    }
    job = std::make_shared<inflight>();
    impl_->fetching[lfn] = job;
  }

  // Fetch outside the lock into a private staging directory.
  auto outcome = [&]() -> result<cached_series> {
    const fs::path staging = impl_->settings.dir / (std::string(staging_prefix) + lfn + "-" +
                                                    crypto::to_hex(crypto::random_bytes(6)));
    std::error_code ec;
    fs::create_directory(staging, ec);
    if (ec) return fail(errc::io_error, "cannot create a staging directory: " + ec.message());
    auto discard = [&] {
      std::error_code rm;
      fs::remove_all(staging, rm);
    };
    // A throwing fetcher must not leave waiters blocked forever: it becomes an error.
    status fetched = fail(errc::internal, "the series fetcher threw an exception");
    try {
      fetched = fetch(staging);
    } catch (...) {
    }
    if (!fetched) {
      discard();
      return fetched.err();
    }
    auto d = describe(staging);
    if (!d) {
      discard();
      return d.err();
    }
    if (d->bytes > impl_->settings.max_bytes) {
      discard();
      return fail(errc::too_large, "series (" + std::to_string(d->bytes) + " bytes) exceeds the cache cap");
    }
    std::lock_guard lock(impl_->mutex);
    fs::rename(staging, impl_->settings.dir / lfn, ec);
    if (ec) {
      discard();
      return fail(errc::io_error, "cannot move the series into the cache: " + ec.message());
    }
    impl_->entries[lfn] = {d->bytes, ++impl_->clock};
    impl_->total += d->bytes;
    impl_->evict(lfn);
    return describe(impl_->settings.dir / lfn);
  }();

  std::lock_guard lock(impl_->mutex);
  job->outcome = outcome;
  job->finished = true;
  impl_->fetching.erase(lfn);
  job->done.notify_all();
  return outcome;
}

status series_cache::remove(std::string_view lfn) {
  if (!valid_lfn(lfn)) return fail(errc::invalid_argument, "LFN must be 32 lowercase hex digits");
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->entries.find(std::string(lfn));
  if (it == impl_->entries.end()) return {};
  std::error_code ec;
  fs::remove_all(impl_->settings.dir / it->first, ec);
  if (ec) return fail(errc::io_error, "cannot remove cached series: " + ec.message());
  impl_->total -= it->second.bytes;
  impl_->entries.erase(it);
  return {};
}

std::uint64_t series_cache::size_bytes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->total;
}

std::size_t series_cache::count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->entries.size();
}

}  // namespace dm2::pacs
