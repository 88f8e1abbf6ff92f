// Streaming reads: index records and sealed values one at a time from a snapshot, and key
// counts. Callers that must not hold a whole family in memory (the replica store) use these.
#include "database_impl.hpp"
#include "sealed_value.hpp"

namespace dm2::storage {

status database::for_each_index_record(const std::function<bool(const index_record&)>& fn) {
  snapshot_guard snap(impl_->db.get());
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(snap.read(), impl_->handle(family::index_records)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto record = impl_->open_record(view(it->key()), view(it->value()));
    if (!record) return std::move(record).err();
    if (!fn(*record)) return {};
  }
  if (!it->status().ok()) return storage_error(it->status(), "record scan failed");
  return {};
}

status database::for_each_value(family f, std::string_view prefix,
                                const std::function<bool(std::string_view, std::string_view)>& fn) {
  if (f != family::nominative && f != family::key_shares && f != family::dht_items && f != family::owned_keys &&
      f != family::accounts && f != family::results)
    return fail(errc::invalid_argument,
                "for_each_value reads nominative, key_shares, dht_items, owned_keys, accounts and results, not " +
                                            std::string(name_of(f)));
  snapshot_guard snap(impl_->db.get());
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(snap.read(), impl_->handle(f)));
  for (it->Seek(slice(prefix)); it->Valid() && view(it->key()).starts_with(prefix); it->Next()) {
    auto plain = detail::open_value(impl_->value_key, f, view(it->key()), view(it->value()));
    if (!plain) return std::move(plain).err();
    if (!fn(view(it->key()), *plain)) return {};
  }
  if (!it->status().ok()) return storage_error(it->status(), "value scan failed");
  return {};
}

result<std::uint64_t> database::count_keys(family f) {
  rocksdb::ReadOptions read;
  read.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read, impl_->handle(f)));
  std::uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  if (!it->status().ok()) return storage_error(it->status(), "key count failed");
  return n;
}

}  // namespace dm2::storage
