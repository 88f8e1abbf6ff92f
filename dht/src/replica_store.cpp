#include "dm2/dht/replica_store.hpp"

namespace dm2::dht {

bool memory_replica_store::put_record(const record& r) {
  auto it = records_.find(r.lfn);
  if (it != records_.end() && !newer_than(r, it->second)) return false;
  records_[r.lfn] = r;
  return true;
}

std::optional<record> memory_replica_store::get_record(const std::string& lfn) const {
  auto it = records_.find(lfn);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

void memory_replica_store::for_each_record(const std::function<void(const record&)>& fn) const {
  for (const auto& [lfn, r] : records_) fn(r);
}

void memory_replica_store::put_share(const key_share& s) { shares_[{s.key_id, s.index}] = s; }

void memory_replica_store::for_each_share(const std::function<void(const key_share&)>& fn) const {
  for (const auto& [k, s] : shares_) fn(s);
}

void memory_replica_store::erase_share(const std::string& key_id, std::uint32_t index) {
  shares_.erase({key_id, index});
}

}  // namespace dm2::dht
