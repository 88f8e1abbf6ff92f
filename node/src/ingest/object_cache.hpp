// The object store as the DM² cache (docs/ingest.md, "Cache"): with `pacs.object_cache_bytes`
// set, the committed series beyond that size are evicted, least recently read first, and
// ingest_service re-assembles an evicted series from the PACS the next time it is read. The
// index record, the key material and the nominative link stay: only the sealed files go. A
// series being read is pinned, so eviction never removes files under a reader. Capacity 0 keeps
// everything (no eviction). Thread-safe; made with std::make_shared (leases may outlive it).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "object_store.hpp"

namespace dm2::node {

class object_cache : public std::enable_shared_from_this<object_cache> {
 public:
  object_cache(const object_store& store, std::uint64_t capacity) : store_(store), capacity_(capacity) {}

  // Learns the series on disk (sizes, and last reads from the directories' modification times,
  // so the order survives a restart), then evicts down to capacity.
  void scan();

  // Keeps `lfn` from eviction while the returned lease lives, and records a read now.
  using lease = std::shared_ptr<const void>;
  lease pin(const std::string& lfn);

  // `lfn` was just placed (ingested or re-assembled) at `version`: counts it (replacing an older
  // version's entry), then evicts down to capacity, `lfn` last.
  void placed(const std::string& lfn, std::uint64_t version);

  std::uint64_t bytes() const;
  std::uint64_t evictions() const;

 private:
  struct entry {
    std::uint64_t version = 0;
    std::uint64_t bytes = 0;
    std::chrono::system_clock::time_point last_read;
    unsigned pins = 0;
  };
  void evict_locked(const std::string& keep);
  void unpin(const std::string& lfn);

  const object_store& store_;
  const std::uint64_t capacity_;
  mutable std::mutex mutex_;
  std::map<std::string, entry> entries_;  // by LFN
  std::uint64_t bytes_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace dm2::node
