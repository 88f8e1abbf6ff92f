#include "dm2/dht/site_indexes.hpp"

#include <functional>

namespace dm2::dht {

namespace {
std::uint64_t hash_of(std::string_view site_id) { return std::hash<std::string_view>{}(site_id); }
}  // namespace

std::optional<site_index> site_indexes::find(std::string_view site_id) const {
  return by_id_.find(hash_of(site_id), [&](std::uint32_t i) { return ids_[i] == site_id; });
}

site_index site_indexes::assign(const std::string& site_id) {
  if (auto i = find(site_id)) return *i;
  auto i = static_cast<site_index>(ids_.size());
  ids_.push_back(site_id);
  by_id_.insert(hash_of(site_id), i);
  return i;
}

}  // namespace dm2::dht
