// database::commit: one WriteBatch per transaction, WAL synced; index records replaced only by
// newer versions, their secondary-index entries swapped in the same batch; audit entries chained
// and signed in commit order.
#include <chrono>
#include <map>

#include "byte_io.hpp"
#include "database_impl.hpp"
#include "index_keys.hpp"
#include "sealed_value.hpp"

namespace dm2::storage {
namespace {

constexpr std::size_t max_value_key = 1024;
constexpr std::size_t max_value = 64 * 1024 * 1024;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

namespace detail {

// Builds the batch; holds the view of records as the batch leaves them.
class batch_builder {
 public:
  explicit batch_builder(database::impl& p) : p_(p), audit_next_(p.audit_next), audit_hash_(p.audit_last_hash) {}

  status put_record(transaction::op& op) {
    auto& r = op.record;
    if (auto s = validate(r); !s) return s;
    auto current = current_record(r.lfn);
    if (!current) return std::move(current).err();
    if (*current && !supersedes(r, **current)) {
      if (op.policy == on_stale::skip) return {};
      return fail(errc::stale_version, "index record version " + std::to_string(r.version) +
                                           " does not supersede stored version " +
                                           std::to_string((*current)->version));
    }
    if (*current) remove_index_entries(**current);
    auto sealed = detail::seal_value(p_.value_key, family::index_records, r.lfn,
                                     encode_index_record(r), r.version);
    if (!sealed) return std::move(sealed).err();
    if (auto s = put(family::index_records, r.lfn, *sealed); !s) return s;
    for (const auto& k : detail::index_keys_of(p_.blind_key, r))
      if (auto s = put(family::record_index, k, ""); !s) return s;
    records_[r.lfn] = r;
    return {};
  }

  status erase_record(transaction::op& op) {
    if (op.key.size() != lfn_size) return fail(errc::invalid_argument, "an LFN is 16 bytes");
    auto current = current_record(op.key);
    if (!current) return std::move(current).err();
    if (!*current) return {};
    remove_index_entries(**current);
    if (auto s = erase(family::index_records, op.key); !s) return s;
    records_[op.key] = std::nullopt;
    return {};
  }

  status put_value(transaction::op& op) {
    if (auto s = check_value_family(op.f, op.key); !s) return s;
    if (op.value.size() > max_value) return fail(errc::too_large, "value over 64 MiB");
    auto sealed = detail::seal_value(p_.value_key, op.f, op.key, op.value);
    if (!sealed) return std::move(sealed).err();
    return put(op.f, op.key, *sealed);
  }

  status erase_value(transaction::op& op) {
    if (auto s = check_value_family(op.f, op.key); !s) return s;
    return erase(op.f, op.key);
  }

  status append_audit(audit_event& e) {
    if (!p_.signer) return fail(errc::invalid_argument, "no audit signer: cannot append audit entries");
    if (auto s = validate(e); !s) return s;
    audit_entry entry;
    entry.sequence = audit_next_;
    entry.event = std::move(e);
    if (entry.event.time_ms == 0) entry.event.time_ms = now_ms();
    entry.previous_hash = audit_hash_;
    auto signature = p_.signer.sign(signed_payload(entry));
    if (!signature) return std::move(signature).err();
    if (signature->size() > audit_limits::signature)
      return fail(errc::invalid_argument, "audit signature over 256 bytes");
    entry.signature = std::move(*signature);
    std::string key = detail::be64(entry.sequence);
    auto sealed = detail::seal_value(p_.value_key, family::audit, key, encode_audit_entry(entry));
    if (!sealed) return std::move(sealed).err();
    if (auto s = put(family::audit, key, *sealed); !s) return s;
    audit_hash_ = chain_hash(entry);
    ++audit_next_;
    return {};
  }

  // Adds the new audit head (if entries were appended) and writes the batch, WAL synced.
  status add(transaction::op& op) {
    switch (op.kind) {
      case transaction::op_kind::put_record: return put_record(op);
      case transaction::op_kind::erase_record: return erase_record(op);
      case transaction::op_kind::put_value: return put_value(op);
      case transaction::op_kind::erase_value: return erase_value(op);
      case transaction::op_kind::audit: return append_audit(op.event);
    }
    return fail(errc::internal, "unknown transaction operation");
  }

  status write() {
    if (audit_next_ != p_.audit_next) {
      detail::byte_writer head;
      head.u64(audit_next_);
      head.raw(audit_hash_);
      auto sealed = detail::seal_value(p_.value_key, family::node_meta, meta_audit_head, head.bytes());
      if (!sealed) return std::move(sealed).err();
      if (auto s = put(family::node_meta, meta_audit_head, *sealed); !s) return s;
    }
    if (batch_.Count() == 0) return {};
    rocksdb::WriteOptions w;
    w.sync = true;
    auto s = p_.db->Write(w, &batch_);
    if (!s.ok()) return storage_error(s, "commit failed");
    p_.audit_next = audit_next_;
    p_.audit_last_hash = audit_hash_;
    return {};
  }

 private:
  result<std::optional<index_record>> current_record(const std::string& lfn) {
    if (auto it = records_.find(lfn); it != records_.end()) return it->second;
    return p_.load_record(lfn);
  }

  void remove_index_entries(const index_record& r) {
    for (const auto& k : detail::index_keys_of(p_.blind_key, r))
      (void)erase(family::record_index, k);
  }

  status check_value_family(family f, std::string_view key) {
    if (f != family::nominative && f != family::key_shares && f != family::dht_items && f != family::owned_keys &&
        f != family::accounts && f != family::results)
      return fail(errc::invalid_argument,
                  "transaction::put accepts nominative, key_shares, dht_items, owned_keys, accounts and results, not " +
                      std::string(name_of(f)));
    if (key.empty() || key.size() > max_value_key)
      return fail(errc::invalid_argument, "value key must be 1 to 1024 bytes");
    return {};
  }

  status put(family f, std::string_view k, std::string_view v) {
    auto s = batch_.Put(p_.handle(f), slice(k), slice(v));
    if (!s.ok()) return storage_error(s, "batch put failed");
    return {};
  }
  status erase(family f, std::string_view k) {
    auto s = batch_.Delete(p_.handle(f), slice(k));
    if (!s.ok()) return storage_error(s, "batch delete failed");
    return {};
  }

  database::impl& p_;
  rocksdb::WriteBatch batch_;
  std::map<std::string, std::optional<index_record>> records_;
  std::uint64_t audit_next_;
  std::string audit_hash_;
};

}  // namespace detail

status database::commit(transaction t) {
  std::lock_guard lock(impl_->commit_mutex);
  detail::batch_builder builder(*impl_);
  for (auto& op : t.ops_) {
    if (auto s = builder.add(op); !s) return s;
  }
  return builder.write();
}

result<bool> database::put_if_newer(const index_record& r) {
  if (auto s = validate(r); !s) return std::move(s).err();
  auto current = get_index_record(r.lfn);
  if (!current) return std::move(current).err();
  if (*current && !supersedes(r, **current)) return false;
  transaction t;
  t.put_index_record(r, on_stale::skip);
  if (auto s = commit(std::move(t)); !s) return std::move(s).err();
  // Committed, or skipped because a concurrent commit stored a newer one: the stored record tells.
  auto stored = get_index_record(r.lfn);
  if (!stored) return std::move(stored).err();
  return stored->has_value() && **stored == r;
}

}  // namespace dm2::storage
