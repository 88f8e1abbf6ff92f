// Per-site state keyed by site index: the values in one dense array, found through an
// open-addressing table of (index, position) pairs: 8 bytes a slot, so a probe stays in one
// cache line and the table costs little beside the values. A node-based map cost an allocation
// per peer and a bucket and a node to miss on (a replicator's per-peer maps were ~10 % of
// dm2-sim's steady state at 10,000 sites: docs/simulator.md, "Eleventh pass"); values in the
// slots themselves, half of them empty, doubled the memory and the cache lines written.
// Linear probing, at most half full; erase shifts back (no tombstones) and moves the last value
// into the hole. Pointers to values stay valid until the next insert or erase.
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
    auto at = slot_of(key);
    return at == none ? nullptr : &values_[slots_[at].at].second;
  }
  const V* find(site_index key) const { return const_cast<site_map*>(this)->find(key); }
  // The value under `key` (not no_site), default-constructed if it was not there; true if it was added.
  std::pair<V*, bool> try_emplace(site_index key) {
    if (auto* v = find(key)) return {v, false};
    if (2 * (values_.size() + 1) > slots_.size()) grow();
    place(key, static_cast<std::uint32_t>(values_.size()));
    values_.emplace_back(key, V{});
    return {&values_.back().second, true};
  }
  V& operator[](site_index key) { return *try_emplace(key).first; }
  // 1 if `key` was there.
  std::size_t erase(site_index key) {
    auto at = slot_of(key);
    if (at == none) return 0;
    auto hole = slots_[at].at;
    // Shift back the slots after it that probed past it, so every probe still ends at an empty slot.
    for (auto n = next(at); slots_[n].key != no_site; n = next(n)) {
      auto h = home(slots_[n].key);
      if (((n - h) & mask()) >= ((n - at) & mask())) {
        slots_[at] = slots_[n];
        at = n;
      }
    }
    slots_[at] = slot{};
    if (hole + 1 != values_.size()) {
      values_[hole] = std::move(values_.back());
      slots_[slot_of(values_[hole].first)].at = hole;
    }
    values_.pop_back();
    return 1;
  }
  void clear() {
    slots_.clear();
    values_.clear();
  }
  std::size_t size() const { return values_.size(); }
  // fn(key, value) for every entry, in no order that means anything.
  template <typename F>
  void for_each(F&& fn) {
    for (auto& [key, value] : values_) fn(key, value);
  }

 private:
  struct slot {
    site_index key = no_site;
    std::uint32_t at = 0;  // in values_
  };
  static constexpr std::size_t none = ~std::size_t{0};
  std::size_t mask() const { return slots_.size() - 1; }
  std::size_t next(std::size_t at) const { return (at + 1) & mask(); }
  // Fibonacci hashing: indexes are handed out consecutively, the top bits of the product spread them.
  std::size_t home(site_index key) const {
    return static_cast<std::size_t>((std::uint64_t{key} * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::size_t slot_of(site_index key) const {
    if (slots_.empty() || key == no_site) return none;  // no_site marks an empty slot
    for (auto at = home(key);; at = next(at)) {
      if (slots_[at].key == key) return at;
      if (slots_[at].key == no_site) return none;
    }
  }
  void place(site_index key, std::uint32_t at) {
    auto s = home(key);
    while (slots_[s].key != no_site) s = next(s);
    slots_[s] = slot{key, at};
  }
  void grow() {
    slots_.assign(slots_.empty() ? 16 : 2 * slots_.size(), slot{});
    shift_ = 64;
    for (auto size = slots_.size(); size > 1; size /= 2) --shift_;
    for (std::uint32_t at = 0; at < values_.size(); ++at) place(values_[at].first, at);
  }
  std::vector<slot> slots_;
  std::vector<std::pair<site_index, V>> values_;
  int shift_ = 64;
};

}  // namespace dm2::dht
