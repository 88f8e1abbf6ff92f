#include "tracked_store.hpp"

#include <algorithm>

namespace dm2::sim {

const holder_list* copy_map::holders(const std::string& lfn) const {
  auto it = holders_.find(lfn);
  return it == holders_.end() || it->second.empty() ? nullptr : &it->second;
}

bool copy_map::holds(const std::string& lfn, site_number site) const {
  const auto* h = holders(lfn);
  return h && std::find(h->begin(), h->end(), site) != h->end();
}

void copy_map::add(const std::string& lfn, site_number site) {
  auto& h = holders_[lfn];
  if (std::find(h.begin(), h.end(), site) != h.end()) return;
  h.push_back(site);
  if (on_add) on_add(lfn, site);
}

void copy_map::remove(const std::string& lfn, site_number site) {
  auto it = holders_.find(lfn);
  if (it == holders_.end()) return;
  auto& h = it->second;  // an emptied list stays: holders_slot() references live on
  h.erase(std::remove(h.begin(), h.end(), site), h.end());
}

void tracked_store::wipe() {
  store_.for_each_summary([&](const dht::record_summary& r) { copies_->remove(r.lfn, site_); });
  store_ = dht::memory_replica_store{};
}

bool tracked_store::put_record(const dht::record& r) {
  if (!store_.put_record(r)) return false;
  copies_->add(r.lfn, site_);
  return true;
}

void tracked_store::erase_record(const std::string& lfn) {
  store_.erase_record(lfn);
  copies_->remove(lfn, site_);
}

}  // namespace dm2::sim
