#include "dm2/dht/membership.hpp"

#include "dm2/dht/placement.hpp"

namespace dm2::dht {

void static_membership::add(site_info site) {
  auto id = site.site_id;
  sites_[id] = entry{std::move(site), true};
  ++version_;
}

void static_membership::remove(const std::string& site_id) {
  if (sites_.erase(site_id) > 0) ++version_;
}

void static_membership::set_live(const std::string& site_id, bool live) {
  auto it = sites_.find(site_id);
  if (it == sites_.end() || it->second.live == live) return;
  it->second.live = live;
  ++version_;
}

bool static_membership::is_live(const std::string& site_id) const {
  auto it = sites_.find(site_id);
  return it != sites_.end() && it->second.live;
}

std::vector<site_info> static_membership::live_sites() const {
  std::vector<site_info> out;
  for (const auto& [id, e] : sites_)
    if (e.live) out.push_back(e.info);
  return out;
}

std::shared_ptr<const placement_index> static_membership::shared_placement() const {
  if (!placement_ || placement_version_ != version_) {
    placement_ = std::make_shared<const placement_index>(live_sites());
    placement_version_ = version_;
  }
  return placement_;
}

}  // namespace dm2::dht
