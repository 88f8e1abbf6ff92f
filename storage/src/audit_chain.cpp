// database::verify_audit and read_audit: walking the hash-chained, signed audit log.
#include <optional>

#include "byte_io.hpp"
#include "database_impl.hpp"
#include "sealed_value.hpp"

namespace dm2::storage {

result<std::optional<audit_entry>> database::read_audit(std::uint64_t sequence) {
  std::string key = detail::be64(sequence);
  auto stored = impl_->raw_get(family::audit, key);
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) return std::optional<audit_entry>{};
  auto plain = detail::open_value(impl_->value_key, family::audit, key, **stored);
  if (!plain) return std::move(plain).err();
  auto entry = decode_audit_entry(*plain);
  if (!entry) return fail(errc::integrity_failure, "audit entry does not decode: " + entry.err().message);
  return std::optional<audit_entry>{std::move(*entry)};
}

result<audit_report> database::verify_audit() {
  if (!impl_->signer) return fail(errc::invalid_argument, "no audit signer to verify with");
  // The head and a snapshot taken together: appends during the walk are not seen, and the walk
  // ends exactly at the head it started from.
  std::uint64_t head_next;
  std::string head_hash;
  std::optional<snapshot_guard> snap;
  {
    std::lock_guard lock(impl_->commit_mutex);
    head_next = impl_->audit_next;
    head_hash = impl_->audit_last_hash;
    snap.emplace(impl_->db.get());
  }
  audit_report report;
  auto bad = [&](std::uint64_t index, std::string why) {
    report.first_bad = index;
    report.reason = std::move(why);
    return report;
  };
  std::string previous(audit_hash_size, '\0');
  std::uint64_t expected = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(snap->read(), impl_->handle(family::audit)));
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
    auto key = view(it->key());
    detail::byte_reader kr(key);
    auto seq = kr.be(8);
    if (!seq || !kr.at_end()) return bad(expected, "a key that is not an entry position was inserted");
    if (*seq != expected) return bad(expected, "entry " + std::to_string(expected) + " was removed");
    if (expected >= head_next) return bad(expected, "entry inserted after the signed head");
    report.entries = expected + 1;
    auto plain = detail::open_value(impl_->value_key, family::audit, key, view(it->value()));
    if (!plain) return bad(expected, "entry was changed or moved (does not authenticate)");
    auto entry = decode_audit_entry(*plain);
    if (!entry) return bad(expected, "entry does not decode: " + entry.err().message);
    if (entry->sequence != expected) return bad(expected, "entry was reordered (carries position " +
                                                              std::to_string(entry->sequence) + ")");
    if (entry->previous_hash != previous)
      return bad(expected, "chain broken: the previous entry was changed, removed or one was inserted");
    if (auto s = impl_->signer.verify(signed_payload(*entry), entry->signature); !s)
      return bad(expected, "signature does not verify: " + s.err().message);
    previous = chain_hash(*entry);
  }
  if (!it->status().ok()) return storage_error(it->status(), "audit scan failed");
  if (expected < head_next) return bad(expected, "entries removed from the end of the log");
  if (expected > 0 && head_hash != previous)
    return bad(expected - 1, "last entry does not match the recorded head");
  return report;
}

}  // namespace dm2::storage
