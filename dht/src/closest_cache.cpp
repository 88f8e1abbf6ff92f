#include "closest_cache.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "dm2/dht/replica_store.hpp"

namespace dm2::dht {

namespace {

std::uint64_t top64(const node_id& id) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | id[static_cast<std::size_t>(i)];
  return v;
}

}  // namespace

closest_cache::follower closest_cache::follow() {
  followers_.emplace_back();
  return static_cast<follower>(followers_.size() - 1);
}

void closest_cache::sync(const membership& members) {
  if (view_ && view_ != &members) throw std::logic_error("closest_cache: one membership view per memo");
  view_ = &members;
  auto v = members.version();
  if (synced_version_ && *synced_version_ == v) return;
  auto changes = synced_version_ ? members.changes_since(*synced_version_) : std::nullopt;
  if (changes)
    apply(*changes);
  else if (synced_version_)
    clear();  // the changes are gone from the log: nothing can be trusted
  synced_version_ = v;
}

std::optional<std::uint32_t> closest_cache::find(const std::string& name) const {
  return by_name_.find(std::hash<std::string>{}(name), [&](std::uint32_t at) { return entries_[at].name == name; });
}

const node_id* closest_cache::key(const std::string& name) const {
  auto found = find(name);
  return found ? &entries_[*found].key : nullptr;
}

const site_list& closest_cache::get(follower f, const placement_index& p, const std::string& name,
                                    std::size_t count, site_index exclude) {
  auto hint = no_hint;
  return get(f, p, name, count, exclude, hint);
}

const site_list& closest_cache::get(follower f, const placement_index& p, const std::string& name,
                                    std::size_t count, site_index exclude, std::uint32_t& hint) {
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
        subscribe(e, f);
        hint = at;
        return e.ids;
      }
      // Asked for with another count or exclude: whoever followed the old result learns it
      // changed, as from a drop.
      deliver(at, f);
      ++followers_[f].resets;
    }
  } else {
    // Bounds memory (a million names per follower); beyond, start over.
    if (by_name_.size() >= 1'000'000 * std::max<std::size_t>(1, followers_.size())) clear();
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
  subscribe(e, f);
  hint = at;
  return e.ids;
}

void closest_cache::subscribe(entry& e, follower f) {
  if (std::find(e.followers.begin(), e.followers.end(), f) == e.followers.end()) e.followers.push_back(f);
}

void closest_cache::deliver(std::uint32_t at, follower except) {
  auto& e = entries_[at];
  for (auto who : e.followers) {
    auto& to = followers_[who];
    if (who == except || !to.active) continue;
    to.inbox.push_back(at);
    ++e.pending;
  }
  e.followers.clear();
}

void closest_cache::take_dropped(follower f, std::vector<std::string>& out) {
  auto& from = followers_[f];
  if (from.inbox.empty()) return;
  // In name order: what the caller re-derives from the names does not depend on slots.
  std::vector<std::string> names;
  names.reserve(from.inbox.size());
  for (auto at : from.inbox) {
    names.push_back(entries_[at].name);
    --entries_[at].pending;
  }
  from.inbox.clear();
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  out.insert(out.end(), std::make_move_iterator(names.begin()), std::make_move_iterator(names.end()));
  ++from.epoch;
}

void closest_cache::unfollow(follower f) {
  reset(f);
  followers_[f].active = false;
}

void closest_cache::reset(follower f) {
  auto& r = followers_[f];
  for (auto at : r.inbox) --entries_[at].pending;
  r.inbox.clear();
  ++r.epoch;
  ++r.resets;
}

void closest_cache::watch_entry(std::uint32_t at) {
  auto& e = entries_[at];
  e.stamp = ++stamps_;  // voids the entry's earlier watch, if any
  watch w{e.key_top, e.reach, at, e.stamp, e.exclude};
  recent_.push_back(w);
  exclude_filter_.set(e.exclude % filter_size);
  min_near_bits_ = std::min(min_near_bits_, std::countl_zero(e.reach));
  mark_near(w);
  if (recent_.size() > 32 + watch_.size() / 32) merge_recent();
}

bool closest_cache::live(const watch& w) const {
  const auto& e = entries_[w.at];
  return e.stamp == w.stamp && !e.dropped;
}

void closest_cache::merge_recent() {
  // Void watches go (recomputed, dropped or freed entries); the recent ones are sorted in. Both
  // arrays stay sorted without moving the whole array at each insert (a memo shared by 10,000
  // sites holds ~120,000 entries).
  std::erase_if(watch_, [&](const watch& w) { return !live(w); });
  std::erase_if(by_exclude_, [&](const watch& w) { return !live(w); });
  std::erase_if(recent_, [&](const watch& w) { return !live(w); });
  auto by_key = [](const watch& a, const watch& b) { return a.key_top < b.key_top; };
  auto by_excluded = [](const watch& a, const watch& b) { return a.exclude < b.exclude; };
  auto old = static_cast<std::ptrdiff_t>(watch_.size());
  std::sort(recent_.begin(), recent_.end(), by_key);
  watch_.insert(watch_.end(), recent_.begin(), recent_.end());
  std::inplace_merge(watch_.begin(), watch_.begin() + old, watch_.end(), by_key);
  std::sort(recent_.begin(), recent_.end(), by_excluded);
  by_exclude_.insert(by_exclude_.end(), recent_.begin(), recent_.end());
  std::inplace_merge(by_exclude_.begin(), by_exclude_.begin() + old, by_exclude_.end(), by_excluded);
  recent_.clear();
  min_near_bits_ = 64;
  near_filter_.fill(0);
  exclude_filter_.reset();
  for (const auto& w : watch_) {
    min_near_bits_ = std::min(min_near_bits_, std::countl_zero(w.reach));
    mark_near(w);
    exclude_filter_.set(w.exclude % filter_size);
  }
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

void closest_cache::apply(std::span<const membership_change> changes) {
  if (changes.empty() || by_name_.size() == 0) return;
  // Entries dropped before and neither asked for since nor waiting to be taken are let go.
  std::erase_if(freeable_, [&](std::uint32_t at) {
    auto& e = entries_[at];
    if (!e.dropped) return true;
    if (e.pending > 0) return false;
    by_name_.erase(std::hash<std::string>{}(e.name), at);
    e = entry{};
    free_.push_back(at);
    return true;
  });
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
    auto reached = [&](const watch& w) { return close && (top ^ w.key_top) <= w.reach; };
    for (auto w = lo; w != hi; ++w)
      if (reached(*w) && live(*w)) dropped.push_back(w->at);
    for (const auto& w : recent_)
      if ((reached(w) || (excluding && w.exclude == c.index)) && live(w)) dropped.push_back(w.at);
    if (!excluding) continue;  // the search below is a cold read of by_exclude_
    for (auto x = std::lower_bound(by_exclude_.begin(), by_exclude_.end(), c.index,
                                   [](const watch& w, site_index v) { return w.exclude < v; });
         x != by_exclude_.end() && x->exclude == c.index; ++x)
      if (live(*x)) dropped.push_back(x->at);
  }
  if (dropped.empty()) return;
  std::sort(dropped.begin(), dropped.end());
  dropped.erase(std::unique(dropped.begin(), dropped.end()), dropped.end());
  // Their watches are void now (dropped); the next merge lets them go.
  for (auto at : dropped) {
    entries_[at].dropped = true;
    deliver(at, no_follower);
  }
  freeable_.insert(freeable_.end(), dropped.begin(), dropped.end());
}

void closest_cache::clear() {
  entries_.clear();
  free_.clear();
  freeable_.clear();
  by_name_.clear();
  watch_.clear();
  by_exclude_.clear();
  recent_.clear();
  merge_recent();  // empty: resets the filters
  for (follower f = 0; f < followers_.size(); ++f) {
    followers_[f].inbox.clear();  // its entries are gone
    reset(f);
  }
}

}  // namespace dm2::dht
