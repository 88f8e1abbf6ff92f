// The private state behind dm2::storage::database, shared by its source files.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dm2/storage/database.hpp"

namespace dm2::storage {

// Reserved node_meta keys (callers may not write under the "dm2." prefix).
inline constexpr std::string_view meta_schema_key = "dm2.schema_version";
inline constexpr std::string_view meta_key_check = "dm2.key_check";
inline constexpr std::string_view meta_audit_head = "dm2.audit_head";

struct database::impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // [0] is "default", then all_families()
  std::string value_key;  // HKDF(storage key, "values"): seals every stored value
  std::string blind_key;  // HKDF(storage key, "index blind"): blinds equality index tokens
  audit_signer signer;

  std::mutex commit_mutex;                // serializes commit(): read-check-write of records
  std::uint64_t audit_next = 0;           // guarded by commit_mutex
  std::string audit_last_hash;            // guarded by commit_mutex; 32 zero bytes at start

  rocksdb::ColumnFamilyHandle* handle(family f) const {
    return handles.at(static_cast<std::size_t>(f) + 1);
  }
  ~impl() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    (void)db->Close();
  }

  // Raw read (at `snapshot` when given). nullopt when absent.
  result<std::optional<std::string>> raw_get(family f, std::string_view key,
                                             const rocksdb::Snapshot* snapshot = nullptr) const;
  // Decrypts and decodes a stored index record. Errors: integrity_failure.
  result<index_record> open_record(std::string_view lfn, std::string_view stored) const;
  // Decrypted index record (nullopt when absent).
  result<std::optional<index_record>> load_record(std::string_view lfn,
                                                  const rocksdb::Snapshot* snapshot = nullptr) const;
};

inline rocksdb::Slice slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
inline std::string_view view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// A RocksDB snapshot released at scope exit: scans and the reads that follow them see one state.
class snapshot_guard {
 public:
  explicit snapshot_guard(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~snapshot_guard() { db_->ReleaseSnapshot(snapshot_); }
  snapshot_guard(const snapshot_guard&) = delete;
  snapshot_guard& operator=(const snapshot_guard&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }
  rocksdb::ReadOptions read() const {
    rocksdb::ReadOptions r;
    r.snapshot = snapshot_;
    return r;
  }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

error storage_error(const rocksdb::Status& s, std::string_view what);

}  // namespace dm2::storage
