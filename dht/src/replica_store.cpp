#include "dm2/dht/replica_store.hpp"

#include <algorithm>
#include <atomic>
#include <tuple>

namespace dm2::dht {

namespace {
// Generations are drawn from one process-wide sequence: a store replaced by a fresh one (a wiped
// site in the simulator) never repeats a value a replicator cached.
std::uint64_t next_generation() {
  static std::atomic<std::uint64_t> next{1};
  return next++;
}

// Shares in (key_id, index) order: the order of the map they were kept in before.
bool share_before(const key_share& s, const std::string& key_id, std::uint32_t index) {
  return std::tie(s.key_id, s.index) < std::tie(key_id, index);
}
}  // namespace

memory_replica_store::memory_replica_store() : generation_(next_generation()), share_generation_(next_generation()) {}

std::optional<std::uint32_t> memory_replica_store::find(const std::string& lfn) const {
  return by_lfn_.find(std::hash<std::string>{}(lfn), [&](std::uint32_t at) { return records_[at].r.lfn == lfn; });
}

bool memory_replica_store::put_record(const record& r) {
  auto found = find(r.lfn);
  if (found && !newer_than(r, records_[*found].r)) return false;
  held h{r, {r.lfn, r.version, fingerprint(r.payload), r.owner}};
  if (found) {
    records_[*found] = std::move(h);
  } else {
    auto at = static_cast<std::uint32_t>(records_.size());
    if (free_.empty()) {
      records_.push_back(std::move(h));
    } else {
      at = free_.back();
      free_.pop_back();
      records_[at] = std::move(h);
    }
    by_lfn_.insert(std::hash<std::string>{}(r.lfn), at);
    auto before = std::lower_bound(order_.begin(), order_.end(), r.lfn,
                                   [&](std::uint32_t slot, const std::string& lfn) { return records_[slot].r.lfn < lfn; });
    order_.insert(before, at);
  }
  generation_ = next_generation();
  return true;
}

std::optional<record> memory_replica_store::get_record(const std::string& lfn) const {
  auto found = find(lfn);
  if (!found) return std::nullopt;
  return records_[*found].r;
}

std::optional<record_summary> memory_replica_store::get_summary(const std::string& lfn) const {
  auto found = find(lfn);
  if (!found) return std::nullopt;
  return records_[*found].summary;
}

void memory_replica_store::erase_record(const std::string& lfn) {
  auto found = find(lfn);
  if (!found) return;
  by_lfn_.erase(std::hash<std::string>{}(lfn), *found);
  order_.erase(std::lower_bound(order_.begin(), order_.end(), lfn, [&](std::uint32_t slot, const std::string& l) {
    return records_[slot].r.lfn < l;
  }));
  records_[*found] = held{};
  free_.push_back(*found);
  generation_ = next_generation();
}

void memory_replica_store::for_each_summary(const std::function<void(const record_summary&)>& fn) const {
  for (auto at : order_) fn(records_[at].summary);
}

void memory_replica_store::for_each_record(const std::function<void(const record&)>& fn) const {
  for (auto at : order_) fn(records_[at].r);
}

void memory_replica_store::put_share(const key_share& s) {
  auto it = std::lower_bound(shares_.begin(), shares_.end(), s,
                             [](const key_share& a, const key_share& b) { return share_before(a, b.key_id, b.index); });
  if (it != shares_.end() && it->key_id == s.key_id && it->index == s.index)
    *it = s;
  else
    shares_.insert(it, s);
  share_generation_ = next_generation();
}

void memory_replica_store::for_each_share(const std::function<void(const key_share&)>& fn) const {
  for (const auto& s : shares_) fn(s);
}

void memory_replica_store::erase_share(const std::string& key_id, std::uint32_t index) {
  auto it = std::lower_bound(shares_.begin(), shares_.end(), key_id, [&](const key_share& s, const std::string& k) {
    return share_before(s, k, index);
  });
  if (it == shares_.end() || it->key_id != key_id || it->index != index) return;
  shares_.erase(it);
  share_generation_ = next_generation();
}

}  // namespace dm2::dht
