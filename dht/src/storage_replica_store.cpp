#include "dm2/dht/storage_replica_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "dm2/crypto/hash.hpp"
#include "dm2/dht/message_codec.hpp"

namespace dm2::dht {
namespace {

constexpr std::size_t max_key_id_bytes = 1000;  // + 4 index bytes stays under the database's 1024

// The raw LFN of a replica's key: exactly 32 lowercase hex digits (one spelling per LFN, so that
// every site files and fingerprints a record under the same key).
std::optional<std::string> raw_lfn(std::string_view hex) {
  if (hex.size() != 2 * storage::lfn_size) return std::nullopt;
  if (!std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return std::nullopt;
  auto raw = crypto::from_hex(hex);
  if (!raw) return std::nullopt;
  return std::move(*raw);
}

std::string share_key(const std::string& key_id, std::uint32_t index) {
  std::string key = key_id;
  for (int i = 3; i >= 0; --i) key.push_back(static_cast<char>((index >> (8 * i)) & 0xff));
  return key;
}

void log_failure(std::string_view what, const error& e) {
  spdlog::error("event=replica_store_failed op={} reason=\"{}\"", what, e.message);
}

}  // namespace

record replica_of(const storage::index_record& r) {
  return record{crypto::to_hex(r.lfn), r.version, r.owner_site, storage::encode_index_record(r)};
}

result<storage::index_record> decode_replica(const record& r) {
  auto lfn = raw_lfn(r.lfn);
  if (!lfn) return fail(errc::malformed_input, "replica lfn must be 32 lowercase hex digits");
  auto decoded = storage::decode_index_record(r.payload);
  if (!decoded) return std::move(decoded).err();
  if (auto s = storage::validate(*decoded); !s) return std::move(s).err();
  if (decoded->lfn != *lfn) return fail(errc::malformed_input, "replica payload names another lfn");
  if (decoded->version != r.version) return fail(errc::malformed_input, "replica payload has another version");
  if (decoded->owner_site != r.owner) return fail(errc::malformed_input, "replica payload has another owner");
  // Digests fingerprint the payload bytes: a second spelling of one record would never converge.
  if (storage::encode_index_record(*decoded) != r.payload)
    return fail(errc::malformed_input, "replica payload is not canonically encoded");
  return decoded;
}

result<std::unique_ptr<storage_replica_store>> storage_replica_store::open(storage::database& db,
                                                                           verifier verify) {
  std::unique_ptr<storage_replica_store> store(new storage_replica_store(db, std::move(verify)));
  auto s = db.for_each_index_record([&](const storage::index_record& r) {
    auto replica = replica_of(r);
    store->summaries_[replica.lfn] = {replica.lfn, replica.version, fingerprint(replica.payload), replica.owner};
    return true;
  });
  if (!s) return std::move(s).err();
  return store;
}

// Decides every record against the stored copy (or the winner so far in this call) with
// dht::newer_than, then writes the winners in one transaction: erase the stored copy and put the
// new one, so storage::supersedes (which tie-breaks differently) never has a say.
result<std::size_t> storage_replica_store::commit_records(const std::vector<record>& records,
                                                          std::optional<storage::audit_event> audit,
                                                          storage::transaction t) {
  struct winner {
    record replica;
    storage::index_record decoded;
    bool replaces = false;  // a copy is stored
  };
  std::map<std::string, winner> winners;  // raw lfn -> what this call writes
  std::size_t accepted = 0;
  for (const auto& r : records) {
    auto decoded = decode_replica(r);
    if (!decoded) {
      spdlog::debug("event=replica_refused owner={} reason=\"{}\"", r.owner, decoded.err().message);
      continue;
    }
    if (verify_ && !verify_(*decoded)) {
      spdlog::warn("event=replica_refused owner={} reason=\"owner signature does not verify\"", r.owner);
      continue;
    }
    auto it = winners.find(decoded->lfn);
    if (it == winners.end()) {
      auto stored = summaries_.find(r.lfn);
      bool replaces = stored != summaries_.end();
      if (replaces && !newer_than(r.version, fingerprint(r.payload), stored->second.version, stored->second.payload_print))
        continue;
      auto lfn = decoded->lfn;  // copied first: the winner below moves from *decoded
      winners.emplace(std::move(lfn), winner{r, std::move(*decoded), replaces});
    } else {
      if (!newer_than(r, it->second.replica)) continue;
      it->second.replica = r;
      it->second.decoded = std::move(*decoded);
    }
    ++accepted;
  }
  if (winners.empty()) return std::size_t{0};
  std::vector<record_summary> written;
  std::vector<storage::index_record> told;  // the listener's, after the commit
  for (auto& [lfn, w] : winners) {
    if (w.replaces) t.erase_index_record(lfn);
    if (listener_) told.push_back(w.decoded);
    t.put_index_record(std::move(w.decoded));
    written.push_back({w.replica.lfn, w.replica.version, fingerprint(w.replica.payload), w.replica.owner});
  }
  if (audit) t.append_audit(std::move(*audit));
  if (auto s = db_.commit(std::move(t)); !s) return std::move(s).err();
  for (auto& summary : written) summaries_[summary.lfn] = std::move(summary);
  ++generation_;
  for (const auto& r : told) listener_->stored(r);
  return accepted;
}

bool storage_replica_store::put_record(const record& r) { return put_records({r}) == 1; }

std::size_t storage_replica_store::put_records(const std::vector<record>& records) {
  auto stored = commit_records(records, std::nullopt, {});
  if (!stored) {
    log_failure("put_records", stored.err());
    return 0;
  }
  return *stored;
}

result<bool> storage_replica_store::put_owned(const record& r, storage::audit_event audit,
                                              storage::transaction with) {
  auto stored = commit_records({r}, std::move(audit), std::move(with));
  if (!stored) return std::move(stored).err();
  return *stored == 1;
}

std::optional<record> storage_replica_store::get_record(const std::string& lfn) const {
  auto raw = raw_lfn(lfn);
  if (!raw) return std::nullopt;
  auto stored = db_.get_index_record(*raw);
  if (!stored) {
    log_failure("get_record", stored.err());
    return std::nullopt;
  }
  if (!*stored) return std::nullopt;
  return replica_of(**stored);
}

void storage_replica_store::for_each_record(const std::function<void(const record&)>& fn) const {
  auto s = db_.for_each_index_record([&](const storage::index_record& r) {
    fn(replica_of(r));
    return true;
  });
  if (!s) log_failure("for_each_record", s.err());
}

void storage_replica_store::for_each_summary(const std::function<void(const record_summary&)>& fn) const {
  for (const auto& [lfn, summary] : summaries_) fn(summary);
}

std::optional<record_summary> storage_replica_store::get_summary(const std::string& lfn) const {
  auto it = summaries_.find(lfn);
  if (it == summaries_.end()) return std::nullopt;
  return it->second;
}

void storage_replica_store::erase_record(const std::string& lfn) {
  auto raw = raw_lfn(lfn);
  if (!raw) return;
  auto stored = db_.get_index_record(*raw);
  if (!stored || !*stored) {
    if (!stored) log_failure("erase_record", stored.err());
    return;
  }
  storage::transaction t;
  t.erase_index_record(*raw);
  if (auto s = db_.commit(std::move(t)); !s) return log_failure("erase_record", s.err());
  summaries_.erase(lfn);
  ++generation_;
  if (listener_) listener_->erased(*raw);
}

void storage_replica_store::put_share(const key_share& s) {
  if (s.key_id.empty() || s.key_id.size() > max_key_id_bytes) {
    spdlog::warn("event=share_refused owner={} reason=\"key id size\"", s.owner);
    return;
  }
  ++share_generation_;  // a failed write too: derived data is then recomputed, never stale
  if (auto st = db_.put(storage::family::key_shares, share_key(s.key_id, s.index), encode_key_share(s)); !st)
    log_failure("put_share", st.err());
}

void storage_replica_store::for_each_share(const std::function<void(const key_share&)>& fn) const {
  auto st = db_.for_each_value(storage::family::key_shares, "", [&](std::string_view key, std::string_view value) {
    auto s = decode_key_share(value);
    // The value was sealed under its key, so a mismatch means a bug that wrote it, not an attack.
    if (!s || share_key(s->key_id, s->index) != key) {
      spdlog::error("event=replica_store_failed op=for_each_share reason=\"a stored share does not decode to its key\"");
      return true;
    }
    fn(*s);
    return true;
  });
  if (!st) log_failure("for_each_share", st.err());
}

void storage_replica_store::erase_share(const std::string& key_id, std::uint32_t index) {
  if (key_id.empty() || key_id.size() > max_key_id_bytes) return;
  storage::transaction t;
  t.erase(storage::family::key_shares, share_key(key_id, index));
  ++share_generation_;
  if (auto s = db_.commit(std::move(t)); !s) log_failure("erase_share", s.err());
}

}  // namespace dm2::dht
