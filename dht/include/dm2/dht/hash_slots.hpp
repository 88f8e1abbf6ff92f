// Open addressing from a 64-bit hash to a small value (an index into the caller's own array of
// entries): one contiguous array probed in place, the keys kept by the caller, who says which
// value matches. Node-based unordered_maps cost a cache miss per bucket and per node, and the
// cold per-site maps of string keys were most of dm2-sim's self time at 10,000 sites
// (docs/simulator.md, "Eighth pass"). Linear probing, at most half full; erase shifts back, so
// no tombstones accumulate.
//
// Not thread-safe for writes; concurrent find() on an unchanging table is fine.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace dm2::dht {

class hash_slots {
 public:
  // The value stored under `hash` for which matches(value) holds.
  template <typename Matches>
  std::optional<std::uint32_t> find(std::uint64_t hash, Matches&& matches) const {
    if (slots_.empty()) return std::nullopt;
    auto mask = slots_.size() - 1;
    for (auto at = hash & mask;; at = (at + 1) & mask) {
      const auto& s = slots_[at];
      if (s.value == 0) return std::nullopt;
      if (s.hash == hash && matches(s.value - 1)) return s.value - 1;
    }
  }
  // Adds `value` under `hash`; the caller knows no matching value is there.
  void insert(std::uint64_t hash, std::uint32_t value);
  // Removes `value` from under `hash` (nothing when it is not there).
  void erase(std::uint64_t hash, std::uint32_t value);
  void clear();
  // Room for `count` values without growing.
  void reserve(std::size_t count);
  std::size_t size() const { return used_; }

 private:
  struct slot {
    std::uint64_t hash = 0;
    std::uint32_t value = 0;  // value + 1; 0: empty
  };
  void place(std::uint64_t hash, std::uint32_t stored);
  std::vector<slot> slots_;
  std::size_t used_ = 0;
};

}  // namespace dm2::dht
