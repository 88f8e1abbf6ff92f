#include "closest_cache.hpp"

#include <algorithm>
#include <bit>

#include "dm2/dht/replica_store.hpp"

namespace dm2::dht {

namespace {

std::uint64_t top64(const node_id& id) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | id[static_cast<std::size_t>(i)];
  return v;
}

constexpr std::size_t max_entries = 1'000'000;  // bounds memory; beyond, start over

}  // namespace

const std::vector<std::string>& closest_cache::get(const placement_index& p,
                                                   const std::string& name, std::size_t count,
                                                   const std::string& exclude) {
  auto it = entries_.find(name);
  if (it != entries_.end() && it->second.count == count && it->second.exclude == exclude)
    return it->second.ids;
  if (entries_.size() >= max_entries) clear();
  auto key = key_of(name);
  entry e;
  e.exclude = exclude;
  e.count = count;
  e.key_top = top64(key);
  e.exclude_print = fingerprint(exclude);
  auto chosen = p.closest(key, count, exclude);
  // A site within the farthest chosen one's distance shares at least its leading zero bits
  // with the key (capped at 64: a finer test is not worth it). Fewer than count: anyone matters.
  if (chosen.size() >= count && !chosen.empty())
    e.near_bits = std::min(64, std::countl_zero(top64(distance(chosen.back()->id, key))));
  for (const auto* s : chosen) e.ids.push_back(s->site_id);
  watch_stale_ = true;
  auto& slot = entries_[name];
  slot = std::move(e);
  return slot.ids;
}

void closest_cache::rebuild_watch() {
  watch_.clear();
  watch_.reserve(entries_.size());
  for (const auto& [name, e] : entries_)
    watch_.push_back({&name, e.key_top, e.near_bits, e.exclude_print});
  std::sort(watch_.begin(), watch_.end(), [](const watch& a, const watch& b) { return a.key_top < b.key_top; });
  by_exclude_.clear();
  min_near_bits_ = 64;
  for (std::size_t i = 0; i < watch_.size(); ++i) {
    by_exclude_.emplace_back(watch_[i].exclude_print, i);
    min_near_bits_ = std::min(min_near_bits_, watch_[i].near_bits);
  }
  std::sort(by_exclude_.begin(), by_exclude_.end());
  watch_stale_ = false;
}

void closest_cache::apply(std::span<const membership_change> changes,
                          std::vector<std::string>* dropped_names) {
  if (changes.empty() || entries_.empty()) return;
  if (watch_stale_) rebuild_watch();
  std::vector<const std::string*> dropped;
  auto drop = [&](watch& w) {
    if (!w.name) return;
    dropped.push_back(w.name);
    w.name = nullptr;
  };
  for (const auto& c : changes) {
    auto top = top64(c.id);
    // Entries near the change share its first min_near_bits_ bits: one contiguous run.
    auto lo = watch_.begin(), hi = watch_.end();
    if (min_near_bits_ > 0) {
      std::uint64_t mask = ~std::uint64_t{0} << (64 - min_near_bits_);
      auto first = top & mask, last = top | ~mask;
      lo = std::lower_bound(watch_.begin(), watch_.end(), first,
                            [](const watch& w, std::uint64_t v) { return w.key_top < v; });
      hi = std::upper_bound(lo, watch_.end(), last,
                            [](std::uint64_t v, const watch& w) { return v < w.key_top; });
    }
    for (auto w = lo; w != hi; ++w)
      if (w->near_bits == 0 || ((top ^ w->key_top) >> (64 - w->near_bits)) == 0) drop(*w);
    auto print = fingerprint(c.site_id);
    for (auto x = std::lower_bound(by_exclude_.begin(), by_exclude_.end(), std::make_pair(print, std::size_t{0}));
         x != by_exclude_.end() && x->first == print; ++x)
      drop(watch_[x->second]);
  }
  if (dropped.empty()) return;
  for (const auto* name : dropped) {
    std::string copy = *name;  // the key lives in the node being erased
    entries_.erase(copy);
    if (dropped_names) dropped_names->push_back(std::move(copy));
  }
  watch_stale_ = true;
  ++epoch_;
}

void closest_cache::clear() {
  entries_.clear();
  watch_.clear();
  watch_stale_ = false;
  ++epoch_;
}

}  // namespace dm2::dht
