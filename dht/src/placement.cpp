#include "dm2/dht/placement.hpp"

#include <algorithm>

namespace dm2::dht {

namespace {
bool bit_of(const node_id& id, int bit) { return (id[bit / 8] >> (7 - bit % 8)) & 1; }
std::size_t hash_of(const std::string& site_id) { return std::hash<std::string>{}(site_id); }
}  // namespace

placement_index::placement_index(std::vector<site_info> sites) : sites_(std::move(sites)) {
  std::sort(sites_.begin(), sites_.end(), [](const site_info& a, const site_info& b) {
    return a.id != b.id ? a.id < b.id : a.site_id < b.site_id;
  });
  by_site_.reserve(sites_.size());
  for (std::size_t i = 0; i < sites_.size(); ++i) {
    auto x = sites_[i].index;
    if (x >= by_index_.size()) by_index_.resize(std::max<std::size_t>(x + 1, 2 * by_index_.size()));
    by_index_[x] = static_cast<std::uint32_t>(i + 1);
    auto h = hash_of(sites_[i].site_id);
    // A repeated site_id (the roster should prevent it) points at its last entry.
    auto same = [&](std::uint32_t j) { return sites_[j].site_id == sites_[i].site_id; };
    if (auto j = by_site_.find(h, same)) by_site_.erase(h, *j);
    by_site_.insert(h, static_cast<std::uint32_t>(i));
  }
}

// Walks the sorted ids as a binary trie: within [lo, hi) every id shares the first `bit` bits,
// so the ids whose next bit equals the key's are all closer than the others. Taking that side
// first, recursively, yields sites in exact XOR order.
void placement_index::collect(const node_id& key, std::size_t lo, std::size_t hi, int bit,
                              std::size_t count, const std::string& exclude,
                              std::vector<const site_info*>& out) const {
  if (lo >= hi || out.size() >= count) return;
  if (hi - lo == 1) {  // one site left: the remaining bits cannot reorder it (saves ~150 levels)
    if (sites_[lo].site_id != exclude) out.push_back(&sites_[lo]);
    return;
  }
  if (bit == 160) {  // equal node ids: site_id order (sites_ is sorted that way)
    for (std::size_t i = lo; i < hi && out.size() < count; ++i)
      if (sites_[i].site_id != exclude) out.push_back(&sites_[i]);
    return;
  }
  auto mid = static_cast<std::size_t>(
      std::partition_point(sites_.begin() + static_cast<std::ptrdiff_t>(lo),
                           sites_.begin() + static_cast<std::ptrdiff_t>(hi),
                           [bit](const site_info& s) { return !bit_of(s.id, bit); }) -
      sites_.begin());
  if (bit_of(key, bit)) {
    collect(key, mid, hi, bit + 1, count, exclude, out);
    collect(key, lo, mid, bit + 1, count, exclude, out);
  } else {
    collect(key, lo, mid, bit + 1, count, exclude, out);
    collect(key, mid, hi, bit + 1, count, exclude, out);
  }
}

std::vector<const site_info*> placement_index::closest(const node_id& key, std::size_t count,
                                                       const std::string& exclude_site) const {
  std::vector<const site_info*> out;
  out.reserve(std::min(count, sites_.size()));
  collect(key, 0, sites_.size(), 0, count, exclude_site, out);
  return out;
}

std::vector<std::string> placement_index::closest_ids(const node_id& key, std::size_t count,
                                                      const std::string& exclude_site) const {
  std::vector<std::string> out;
  for (const auto* s : closest(key, count, exclude_site)) out.push_back(s->site_id);
  return out;
}

const site_info* placement_index::find(const std::string& site_id) const {
  auto i = by_site_.find(hash_of(site_id), [&](std::uint32_t j) { return sites_[j].site_id == site_id; });
  return i ? &sites_[*i] : nullptr;
}

}  // namespace dm2::dht
