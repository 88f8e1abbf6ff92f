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

std::optional<std::uint32_t> closest_cache::find(const std::string& name) const {
  return by_name_.find(std::hash<std::string>{}(name), [&](std::uint32_t at) { return entries_[at].name == name; });
}

const node_id* closest_cache::key(const std::string& name) const {
  auto found = find(name);
  return found ? &entries_[*found].key : nullptr;
}

const site_list& closest_cache::get(const placement_index& p, const std::string& name, std::size_t count,
                                    site_index exclude) {
  auto hint = no_hint;
  return get(p, name, count, exclude, hint);
}

const site_list& closest_cache::get(const placement_index& p, const std::string& name, std::size_t count,
                                    site_index exclude, std::uint32_t& hint) {
  // A freed slot's name is empty: an empty name goes through the table.
  auto found = hint < entries_.size() && !name.empty() && entries_[hint].name == name
                   ? std::optional<std::uint32_t>(hint)
                   : find(name);
  std::uint32_t at = 0;
  if (found) {
    at = *found;
    auto& e = entries_[at];
    if (!e.dropped) {
      if (e.count == count && e.exclude == exclude) {
        hint = at;
        return e.ids;
      }
      unwatch(at);
      ++resets_;
    }
  } else {
    if (by_name_.size() >= max_entries) clear();
    at = static_cast<std::uint32_t>(entries_.size());
    if (free_.empty()) {
      entries_.emplace_back();
    } else {
      at = free_.back();
      free_.pop_back();
    }
    auto& e = entries_[at];
    e.name = name;
    e.key = key_of(name);
    e.key_top = top64(e.key);
    by_name_.insert(std::hash<std::string>{}(name), at);
  }
  auto& e = entries_[at];
  e.dropped = false;
  e.exclude = exclude;
  e.count = static_cast<std::uint32_t>(count);
  static const std::string nobody;
  const auto* excluded = p.at(exclude);  // not live: nothing to skip
  auto chosen = p.closest(e.key, count, excluded ? excluded->site_id : nobody);
  e.reach = chosen.size() >= count && !chosen.empty() ? top64(distance(chosen.back()->id, e.key))
                                                      : ~std::uint64_t{0};
  e.ids.clear();
  for (const auto* s : chosen) e.ids.push_back(s->index);
  watch_entry(at);
  hint = at;
  return e.ids;
}

void closest_cache::watch_entry(std::uint32_t at) {
  const auto& e = entries_[at];
  watch w{e.key_top, e.reach, at};
  watch_.insert(std::upper_bound(watch_.begin(), watch_.end(), w,
                                 [](const watch& a, const watch& b) { return a.key_top < b.key_top; }),
                w);
  std::pair x{e.exclude, at};
  by_exclude_.insert(std::upper_bound(by_exclude_.begin(), by_exclude_.end(), x), x);
  exclude_filter_.set(e.exclude % filter_size);
  min_near_bits_ = std::min(min_near_bits_, std::countl_zero(e.reach));
  mark_near(w);
}

void closest_cache::mark_near(const watch& w) {
  // A change can matter only if it shares the first countl_zero(reach) bits with the key: the
  // prefixes of that run, every prefix when it is shorter than the filter's.
  auto shared = std::min(std::countl_zero(w.reach), filter_bits);
  auto run = std::size_t{1} << (filter_bits - shared);
  auto first = (w.key_top >> (64 - filter_bits)) & ~(run - 1);  // aligned on run
  if (run < 64) {
    near_filter_[first / 64] |= ((std::uint64_t{1} << run) - 1) << (first % 64);
  } else {
    std::fill_n(near_filter_.begin() + static_cast<std::ptrdiff_t>(first / 64), run / 64, ~std::uint64_t{0});
  }
}

bool closest_cache::near(std::uint64_t top) const {
  auto b = top >> (64 - filter_bits);
  return (near_filter_[b / 64] >> (b % 64)) & 1;
}

void closest_cache::rebuild_filters() {
  near_filter_.fill(0);
  exclude_filter_.reset();
  for (const auto& w : watch_) mark_near(w);
  for (const auto& [excluded, at] : by_exclude_) exclude_filter_.set(excluded % filter_size);
}

void closest_cache::unwatch(std::uint32_t at) {
  const auto& e = entries_[at];
  auto w = std::lower_bound(watch_.begin(), watch_.end(), e.key_top,
                            [](const watch& a, std::uint64_t v) { return a.key_top < v; });
  while (w != watch_.end() && w->at != at) ++w;
  if (w != watch_.end()) watch_.erase(w);
  auto x = std::lower_bound(by_exclude_.begin(), by_exclude_.end(), std::pair{e.exclude, at});
  if (x != by_exclude_.end() && x->second == at) by_exclude_.erase(x);
}

void closest_cache::apply(std::span<const membership_change> changes,
                          std::vector<std::string>* dropped_names) {
  if (changes.empty() || by_name_.size() == 0) return;
  // Entries the last batch dropped and nobody asked for since are let go.
  for (auto at : last_dropped_)
    if (entries_[at].dropped) {
      by_name_.erase(std::hash<std::string>{}(entries_[at].name), at);
      entries_[at] = entry{};
      free_.push_back(at);
    }
  last_dropped_.clear();
  std::vector<std::uint32_t> dropped;
  for (const auto& c : changes) {
    if (c.restarted) continue;  // the same live set: no placement moves
    auto top = top64(c.id);
    bool close = near(top);
    bool excluding = exclude_filter_.test(c.index % filter_size);
    if (!close && !excluding) continue;
    // Entries near the change share its first min_near_bits_ bits: one contiguous run.
    auto lo = watch_.begin(), hi = watch_.end();
    if (!close) {
      lo = hi;
    } else if (min_near_bits_ > 0) {
      std::uint64_t mask = ~std::uint64_t{0} << (64 - min_near_bits_);
      auto first = top & mask, last = top | ~mask;
      lo = std::lower_bound(watch_.begin(), watch_.end(), first,
                            [](const watch& w, std::uint64_t v) { return w.key_top < v; });
      hi = std::upper_bound(lo, watch_.end(), last,
                            [](std::uint64_t v, const watch& w) { return v < w.key_top; });
    }
    // No farther from the key than the farthest chosen site (on 64 bits; a tie counts).
    for (auto w = lo; w != hi; ++w)
      if ((top ^ w->key_top) <= w->reach) dropped.push_back(w->at);
    if (!excluding) continue;  // the search below is a cold read of by_exclude_
    for (auto x = std::lower_bound(by_exclude_.begin(), by_exclude_.end(), std::pair{c.index, std::uint32_t{0}});
         x != by_exclude_.end() && x->first == c.index; ++x)
      dropped.push_back(x->second);
  }
  if (dropped.empty()) return;
  std::sort(dropped.begin(), dropped.end());
  dropped.erase(std::unique(dropped.begin(), dropped.end()), dropped.end());
  auto gone = [&](std::uint32_t at) { return std::binary_search(dropped.begin(), dropped.end(), at); };
  std::erase_if(watch_, [&](const watch& w) { return gone(w.at); });
  std::erase_if(by_exclude_, [&](const auto& x) { return gone(x.second); });
  rebuild_filters();
  // In name order: what the caller re-derives from the names does not depend on slots.
  std::vector<std::string> names;
  names.reserve(dropped.size());
  for (auto at : dropped) {
    entries_[at].dropped = true;
    names.push_back(entries_[at].name);
  }
  last_dropped_ = std::move(dropped);
  std::sort(names.begin(), names.end());
  if (dropped_names)
    dropped_names->insert(dropped_names->end(), std::make_move_iterator(names.begin()),
                          std::make_move_iterator(names.end()));
  ++epoch_;
}

void closest_cache::clear() {
  entries_.clear();
  free_.clear();
  last_dropped_.clear();
  by_name_.clear();
  watch_.clear();
  by_exclude_.clear();
  min_near_bits_ = 64;
  rebuild_filters();
  ++epoch_;
  ++resets_;
}

}  // namespace dm2::dht
