#include "dm2/dht/replica_store.hpp"

#include <atomic>

namespace dm2::dht {

namespace {
// Generations are drawn from one process-wide sequence: a store replaced by a fresh one (a wiped
// site in the simulator) never repeats a value a replicator cached.
std::uint64_t next_generation() {
  static std::atomic<std::uint64_t> next{1};
  return next++;
}
}  // namespace

memory_replica_store::memory_replica_store() : generation_(next_generation()), share_generation_(next_generation()) {}

bool memory_replica_store::put_record(const record& r) {
  auto it = records_.find(r.lfn);
  if (it != records_.end() && !newer_than(r, it->second.r)) return false;
  records_[r.lfn] = held{r, {r.lfn, r.version, fingerprint(r.payload), r.owner}};
  generation_ = next_generation();
  return true;
}

std::optional<record> memory_replica_store::get_record(const std::string& lfn) const {
  auto it = records_.find(lfn);
  if (it == records_.end()) return std::nullopt;
  return it->second.r;
}

std::optional<record_summary> memory_replica_store::get_summary(const std::string& lfn) const {
  auto it = records_.find(lfn);
  if (it == records_.end()) return std::nullopt;
  return it->second.summary;
}

void memory_replica_store::erase_record(const std::string& lfn) {
  if (records_.erase(lfn) > 0) generation_ = next_generation();
}

void memory_replica_store::for_each_summary(const std::function<void(const record_summary&)>& fn) const {
  for (const auto& [lfn, h] : records_) fn(h.summary);
}

void memory_replica_store::for_each_record(const std::function<void(const record&)>& fn) const {
  for (const auto& [lfn, h] : records_) fn(h.r);
}

void memory_replica_store::put_share(const key_share& s) {
  shares_[{s.key_id, s.index}] = s;
  share_generation_ = next_generation();
}

void memory_replica_store::for_each_share(const std::function<void(const key_share&)>& fn) const {
  for (const auto& [k, s] : shares_) fn(s);
}

void memory_replica_store::erase_share(const std::string& key_id, std::uint32_t index) {
  if (shares_.erase({key_id, index}) > 0) share_generation_ = next_generation();
}

}  // namespace dm2::dht
