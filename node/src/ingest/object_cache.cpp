#include "object_cache.hpp"

#include <spdlog/spdlog.h>

namespace dm2::node {

void object_cache::scan() {
  auto found = store_.placed();
  std::lock_guard lock(mutex_);
  for (const auto& s : found) {
    auto& e = entries_[s.lfn_hex];
    if (s.version < e.version) continue;  // two versions on disk: the newer one counts
    bytes_ -= e.bytes;
    e.version = s.version;
    e.bytes = s.bytes;
    e.last_read = std::chrono::file_clock::to_sys(s.last_read);
    bytes_ += e.bytes;
  }
  evict_locked("");
}

object_cache::lease object_cache::pin(const std::string& lfn) {
  std::lock_guard lock(mutex_);
  auto& e = entries_[lfn];
  ++e.pins;
  e.last_read = std::chrono::system_clock::now();
  if (e.version != 0) store_.touch(lfn, e.version);
  // The lease unpins when the last reader lets it go (if the cache is still there).
  return lease(new int(0), [self = weak_from_this(), lfn](const int* p) {
    delete p;
    if (auto cache = self.lock()) cache->unpin(lfn);
  });
}

void object_cache::unpin(const std::string& lfn) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(lfn);
  if (it == entries_.end()) return;
  if (--it->second.pins == 0 && it->second.version == 0) entries_.erase(it);  // never placed
}

void object_cache::placed(const std::string& lfn, std::uint64_t version) {
  auto bytes = store_.series_bytes(lfn, version);
  std::lock_guard lock(mutex_);
  auto& e = entries_[lfn];
  bytes_ -= e.bytes;
  // A new version replaces the old one's files (the sweep at start would remove them anyway);
  // while read, they stay until that sweep.
  if (e.version != 0 && e.version != version && e.pins == 0) store_.remove(lfn, e.version);
  e.version = version;
  e.bytes = bytes;
  e.last_read = std::chrono::system_clock::now();
  bytes_ += e.bytes;
  evict_locked(lfn);
}

void object_cache::evict_locked(const std::string& keep) {
  if (capacity_ == 0) return;
  while (bytes_ > capacity_) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      const auto& e = it->second;
      if (it->first == keep || e.pins != 0 || e.version == 0) continue;
      if (victim == entries_.end() || e.last_read < victim->second.last_read) victim = it;
    }
    if (victim == entries_.end()) return;  // the rest is being read, or just placed
    store_.remove(victim->first, victim->second.version);
    spdlog::info("event=object_evicted lfn={} version={} bytes={}", victim->first, victim->second.version,
                 victim->second.bytes);
    bytes_ -= victim->second.bytes;
    ++evictions_;
    if (victim->second.pins == 0) entries_.erase(victim);
  }
}

std::uint64_t object_cache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::uint64_t object_cache::evictions() const {
  std::lock_guard lock(mutex_);
  return evictions_;
}

}  // namespace dm2::node
