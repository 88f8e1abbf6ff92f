// A transaction collects writes to several families and is committed atomically by
// database::commit (one RocksDB WriteBatch, WAL synced before commit returns). Building one does
// no I/O and touches no database state. Not thread-safe (one builder per thread); commit is.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dm2/storage/audit.hpp"
#include "dm2/storage/families.hpp"
#include "dm2/storage/index_record.hpp"

namespace dm2::storage {

namespace detail {
class batch_builder;
}

// What commit does when an index record is not newer than the stored one (supersedes()).
enum class on_stale {
  fail,  // the whole commit fails with stale_version and nothing is written (local updates)
  skip,  // this record is dropped, the rest commits (replicas arriving out of order)
};

class transaction {
 public:
  // Stores `r` (encrypted) and its secondary index entries, replacing the stored record only if
  // `r` supersedes it; old index entries are removed in the same batch.
  void put_index_record(index_record r, on_stale policy = on_stale::fail) {
    op o{op_kind::put_record};
    o.record = std::move(r);
    o.policy = policy;
    ops_.push_back(std::move(o));
  }
  // Removes the record with this LFN and its index entries (no-op if absent).
  void erase_index_record(std::string lfn) {
    op o{op_kind::erase_record};
    o.key = std::move(lfn);
    ops_.push_back(std::move(o));
  }
  // An encrypted value in nominative, key_shares, dht_items, owned_keys, accounts or results (others are refused).
  void put(family f, std::string key, std::string value) {
    op o{op_kind::put_value};
    o.f = f;
    o.key = std::move(key);
    o.value = std::move(value);
    ops_.push_back(std::move(o));
  }
  void erase(family f, std::string key) {
    op o{op_kind::erase_value};
    o.f = f;
    o.key = std::move(key);
    ops_.push_back(std::move(o));
  }
  // Appends an audit entry; its sequence, previous hash and signature are set at commit.
  void append_audit(audit_event e) {
    op o{op_kind::audit};
    o.event = std::move(e);
    ops_.push_back(std::move(o));
  }

  bool empty() const { return ops_.empty(); }

 private:
  friend class database;
  friend class detail::batch_builder;
  enum class op_kind { put_record, erase_record, put_value, erase_value, audit };
  // One write; only the fields its kind names are used. (A flat struct rather than a variant:
  // GCC 12 reports false maybe-uninitialized warnings on variants of these types.)
  struct op {
    op_kind kind = op_kind::put_value;
    index_record record{};
    on_stale policy = on_stale::fail;
    family f = family::nominative;
    std::string key{}, value{};
    audit_event event{};
  };
  std::vector<op> ops_;
};

}  // namespace dm2::storage
