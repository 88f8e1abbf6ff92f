// The node's RocksDB database: one column family per data class, values encrypted at rest with
// the node's 32-byte storage key (AES-256-GCM, associated data binding family and key), atomic
// multi-family transactions, versioned index records with secondary indexes, and the
// hash-chained, signed audit log. See docs/storage.md.
//
// Thread-safe: any thread may call any member; commits are serialized by one mutex (they read
// the stored versions and the audit head before writing), reads are not.
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
#include "dm2/storage/audit.hpp"
#include "dm2/storage/families.hpp"
#include "dm2/storage/index_record.hpp"
#include "dm2/storage/query.hpp"
#include "dm2/storage/transaction.hpp"

namespace dm2::storage {

inline constexpr std::uint32_t schema_version = 1;  // of the on-disk layout (docs/storage.md)
inline constexpr std::size_t storage_key_size = 32;

struct database_options {
  bool create_if_missing = true;  // create the directory and families on first open
};

class database {
 public:
  // Opens (or creates) the database in `dir`, encrypted with `storage_key` (32 bytes; the node
  // keeps it in a 0600 key file). `signer` signs and checks audit entries; without one, commits
  // that append audit entries fail with invalid_argument and verify_audit cannot run.
  // Errors: invalid_argument (key not 32 bytes), integrity_failure (wrong storage key),
  // unsupported (written by a newer schema: downgrade refused), storage_failure (RocksDB's
  // reason: permissions, lock held by another process, corruption).
  static result<std::unique_ptr<database>> open(const std::filesystem::path& dir,
                                                std::string_view storage_key,
                                                const database_options& options = {},
                                                audit_signer signer = {});
  ~database();  // closes RocksDB; every acknowledged commit is already on disk
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Durable single write (WAL synced before it returns) of an encrypted value in nominative,
  // key_shares, dht_items, owned_keys, accounts, results or node_meta (node_meta values are stored in clear).
  // Errors: invalid_argument (index_records, record_index or audit: use a transaction),
  // storage_failure.
  status put(family f, std::string_view key, std::string_view value);
  // nullopt when absent. Errors: invalid_argument (as put), integrity_failure (the stored value
  // was changed or moved), storage_failure.
  result<std::optional<std::string>> get(family f, std::string_view key);

  // Commits every write of `t` atomically with one WriteBatch, WAL synced before it returns.
  // Nothing is written on any error. Errors: stale_version (an index record with on_stale::fail
  // does not supersede the stored one), malformed_input (an invalid record or audit event),
  // invalid_argument (a family not writable this way; audit without a signer), integrity_failure
  // (a stored record it must replace does not decrypt), crypto_failure, storage_failure.
  status commit(transaction t);

  // Convenience: one record with on_stale::skip. true when stored, false when the stored record
  // is the same or newer. Errors: as commit.
  result<bool> put_if_newer(const index_record& r);

  // nullopt when absent. Errors: invalid_argument (lfn size), integrity_failure, storage_failure.
  result<std::optional<index_record>> get_index_record(std::string_view lfn);

  // Records matching `filter`, found by scanning secondary-index prefixes (not the record table)
  // unless the filter is empty. Errors: invalid_argument (a malformed date bound),
  // integrity_failure, storage_failure.
  result<std::vector<index_record>> query(const index_filter& filter);

  // Calls `fn` with each stored index record in LFN order, decrypting one at a time from a
  // snapshot (memory stays flat; commits made meanwhile are not seen); stops early when `fn`
  // returns false. `fn` may commit. Errors: integrity_failure (a record does not decrypt or
  // decode), storage_failure.
  status for_each_index_record(const std::function<bool(const index_record&)>& fn);
  // Calls `fn(key, value)` with each decrypted value of nominative, key_shares, dht_items, owned_keys,
  // accounts or results whose key starts with `prefix`, in key order, from a snapshot; stops early when `fn` returns false.
  // Errors: invalid_argument (another family), integrity_failure, storage_failure.
  status for_each_value(family f, std::string_view prefix,
                        const std::function<bool(std::string_view key, std::string_view value)>& fn);
  // How many keys family `f` holds: walks its keys without decrypting (O(n), for counts taken at
  // open). Errors: storage_failure.
  result<std::uint64_t> count_keys(family f);

  // Walks the audit chain from entry 0 and reports the first changed, removed, reordered or
  // inserted entry. Errors (not findings): invalid_argument (no signer), storage_failure.
  result<audit_report> verify_audit();
  // Entries appended so far.
  std::uint64_t audit_size() const;
  // Decrypted entry `sequence`; nullopt when absent. Errors: integrity_failure, storage_failure.
  result<std::optional<audit_entry>> read_audit(std::uint64_t sequence);

  // Checks that the secondary index holds exactly the entries the stored records imply.
  // Errors: integrity_failure (counts of missing and extra entries), storage_failure.
  status check_indexes();

  // Defined in src/ only (keeps RocksDB out of this header); public so the implementation's
  // files can name it. Callers cannot use it.
  struct impl;

 private:
  explicit database(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::storage
