#include "dm2/dht/membership.hpp"

#include "dm2/dht/placement.hpp"
#include "dm2/dht/replica_store.hpp"

namespace dm2::dht {

namespace {
constexpr std::size_t kept_changes = 65'536;
}  // namespace

void static_membership::record(const site_info& site, bool live, bool restarted) {
  if (log_.size() >= 2 * kept_changes) {
    log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(kept_changes));
    log_start_ += kept_changes;
  }
  log_.push_back(membership_change{site.site_id, site.id, live, restarted, fingerprint(site.site_id), site.index});
  ++version_;
}

void static_membership::add(site_info site) {
  auto id = site.site_id;
  site.index = indexes_.assign(id);
  if (auto it = sites_.find(id); it != sites_.end() && it->second.live) record(it->second.info, false);
  record(site, true);
  sites_[id] = entry{std::move(site), true};
}

void static_membership::remove(const std::string& site_id) {
  auto it = sites_.find(site_id);
  if (it == sites_.end()) return;
  record(it->second.info, false);
  sites_.erase(it);
}

void static_membership::set_live(const std::string& site_id, bool live) {
  auto it = sites_.find(site_id);
  if (it == sites_.end() || it->second.live == live) return;
  it->second.live = live;
  record(it->second.info, live);
}

void static_membership::restart(const std::string& site_id) {
  auto it = sites_.find(site_id);
  if (it == sites_.end()) return;
  ++it->second.info.incarnation;
  if (it->second.live) record(it->second.info, true, true);
}

std::optional<std::span<const membership_change>> static_membership::changes_since(
    std::uint64_t since) const {
  if (since < log_start_ || since > version_) return std::nullopt;
  return std::span<const membership_change>(log_).subspan(since - log_start_);
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
