// The stage-2 result cache with provenance (issue 11 item 4; docs/similarity.md, "Provenance"),
// in the database's `results` family. A score computed here is stored under its cache key — the
// SHA-256 of (measure name, measure version, query volume digest, LFN, series version) — with its
// provenance record; a repeated query finds it without opening the volume. A new version of the
// series or of the measure gives another key, so a superseded entry is never reused: it stays
// answerable by id until pruned. Records received from owners with their scores are kept too
// (the home site's copy, no cache key), so GET /v1/provenance/{id} answers at either end.
//
// Layout (values sealed by the database; one synced commit per write, so a crash keeps all of a
// write's entries or none of them):
//   cache/<key hex>          -> provenance id
//   prov/<id>                -> provenance record (encode_provenance)
//   age/<ms, 16 hex>/<id>    -> the cache key hex ("" for a received copy): oldest first, to prune
// Bounded: an entry older than `max_age` or beyond `max_entries` (oldest first) is pruned at the
// next write. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/database.hpp"
#include "provenance_record.hpp"

namespace dm2::node {

struct result_cache_limits {
  std::size_t max_entries = 100'000;  // computed and received together; about 0.6 KB each on disk
  std::chrono::milliseconds max_age = std::chrono::hours(24 * 90);  // 90 days
};

class result_cache {
 public:
  // Counts the stored entries (reads the age/ keys once). `db` outlives the cache.
  // Errors: those of database::for_each_value.
  static result<std::unique_ptr<result_cache>> open(storage::database& db, result_cache_limits limits = {});

  // The cache key (64 hex digits) of a score of `lfn` at `series_version` by measure
  // `name`/`version` against the query volume whose SHA-256 (hex) is `query_sha256`.
  static std::string key_of(const std::string& name, const std::string& version, const std::string& query_sha256,
                            const std::string& lfn, std::uint64_t series_version);

  // The record cached under `key`; nullopt when none (or pruned).
  // Errors: storage_failure, integrity_failure (a stored value that is not ours).
  result<std::optional<provenance_record>> lookup(const std::string& key) const;
  // The record with this id, computed here or received; nullopt when none.
  // Errors: as lookup.
  result<std::optional<provenance_record>> find(const std::string& id) const;

  // A score computed here: its cache key (key_of) and its record.
  struct computed {
    std::string key;
    provenance_record record;
  };
  // Stores scores computed here, each under its key with its record (a new random id is set in
  // each record), all in one synced commit — a stage-2 request's scores together: all durable
  // when it returns, or none stored — then prunes. Errors: those of database::commit.
  status store(std::vector<computed>& scores, std::int64_t now_ms);
  // Keeps records an owner returned with its scores; an id already stored here is left as it
  // is (a reused score, or a peer naming one of ours). Then prunes. Errors: those of commit.
  status keep(const std::vector<provenance_record>& received, std::int64_t now_ms);

  std::size_t size() const;

 private:
  result_cache(storage::database& db, result_cache_limits limits, std::size_t entries)
      : db_(db), limits_(limits), entries_(entries) {}
  // Removes entries past the limits, oldest first. Called with mutex_ held.
  status prune(std::int64_t now_ms);

  storage::database& db_;
  const result_cache_limits limits_;
  mutable std::mutex mutex_;  // writes and the count
  std::size_t entries_;
};

}  // namespace dm2::node
