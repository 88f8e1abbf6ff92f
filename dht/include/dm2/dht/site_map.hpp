// Per-site state keyed by site index, in one open-addressing array: the value sits in its slot,
// so a look-up is one probe into contiguous memory instead of a bucket and a node to miss on (a
// replicator's per-peer maps were ~10 % of dm2-sim's steady state at 10,000 sites:
// docs/simulator.md, "Eleventh pass"). Linear probing, at most half full; erase shifts back, so
// no tombstones accumulate. Pointers to values stay valid until the next insert or erase.
//
// Not thread-safe for writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "dm2/dht/site_indexes.hpp"

namespace dm2::dht {

template <typename V>
class site_map {
 public:
  V* find(site_index key) {
    if (slots_.empty()) return nullptr;
    for (auto at = home(key);; at = next(at)) {
      auto& s = slots_[at];
      if (s.key == key) return &s.value;
      if (s.key == no_site) return nullptr;
    }
  }
  const V* find(site_index key) const { return const_cast<site_map*>(this)->find(key); }
  // The value under `key`, default-constructed if it was not there; true if it was added.
  std::pair<V*, bool> try_emplace(site_index key) {
    if (auto* v = find(key)) return {v, false};
    if (2 * (used_ + 1) > slots_.size()) grow();
    auto at = home(key);
    while (slots_[at].key != no_site) at = next(at);
    slots_[at].key = key;
    ++used_;
    return {&slots_[at].value, true};
  }
  V& operator[](site_index key) { return *try_emplace(key).first; }
  // 1 if `key` was there.
  std::size_t erase(site_index key) {
    if (slots_.empty()) return 0;
    auto at = home(key);
    for (; slots_[at].key != key; at = next(at))
      if (slots_[at].key == no_site) return 0;
    // Shift back the slots after it that probed past it, so every probe still ends at an empty slot.
    for (auto n = next(at); slots_[n].key != no_site; n = next(n)) {
      auto h = home(slots_[n].key);
      if (((n - h) & mask()) >= ((n - at) & mask())) {
        slots_[at] = std::move(slots_[n]);
        at = n;
      }
    }
    slots_[at] = slot{};
    --used_;
    return 1;
  }
  void clear() {
    slots_.clear();
    used_ = 0;
    shift_ = 64;
  }
  std::size_t size() const { return used_; }
  // fn(key, value) for every entry, in no order that means anything.
  template <typename F>
  void for_each(F&& fn) {
    for (auto& s : slots_)
      if (s.key != no_site) fn(s.key, s.value);
  }

 private:
  struct slot {
    site_index key = no_site;
    V value{};
  };
  std::size_t mask() const { return slots_.size() - 1; }
  std::size_t next(std::size_t at) const { return (at + 1) & mask(); }
  // Fibonacci hashing: indexes are handed out consecutively, the top bits of the product spread them.
  std::size_t home(site_index key) const {
    return static_cast<std::size_t>((std::uint64_t{key} * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow() {
    auto old = std::move(slots_);
    slots_.assign(old.empty() ? 8 : 2 * old.size(), slot{});
    shift_ = 64;
    for (auto size = slots_.size(); size > 1; size /= 2) --shift_;
    for (auto& s : old) {
      if (s.key == no_site) continue;
      auto at = home(s.key);
      while (slots_[at].key != no_site) at = next(at);
      slots_[at] = std::move(s);
    }
  }
  std::vector<slot> slots_;
  std::size_t used_ = 0;
  int shift_ = 64;
};

}  // namespace dm2::dht
