// The node's RocksDB database: one column family per data class. Thread-safe (RocksDB is).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::storage {

// The column families, one per data class (docs/architecture.md, "Storage").
enum class family {
  node_meta,       // node metadata: schema version, site name, sync cursors
  index_records,   // encrypted index records (personal, not identifying)
  nominative,      // sealed nominative records
  key_shares,      // sealed Shamir shares held for other sites
  audit,           // the hash-chained audit log
  dht_items,       // BEP44 items kept by the DHT storage
};

// All families, in the order they are opened.
const std::vector<family>& all_families();
std::string_view name_of(family f);

struct database_options {
  bool create_if_missing = true;  // create the directory and families on first open
};

class database {
 public:
  // Opens (or creates) the database in `dir`. Errors: storage_failure (with RocksDB's reason:
  // permissions, lock held by another process, corruption).
  static result<std::unique_ptr<database>> open(const std::filesystem::path& dir,
                                                const database_options& options = {});
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Durable single write (WAL synced before it returns). Errors: storage_failure.
  status put(family f, std::string_view key, std::string_view value);
  // nullopt when absent. Errors: storage_failure.
  result<std::optional<std::string>> get(family f, std::string_view key);

 private:
  struct impl;
  explicit database(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::storage
