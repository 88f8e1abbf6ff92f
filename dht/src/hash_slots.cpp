#include "dm2/dht/hash_slots.hpp"

namespace dm2::dht {

void hash_slots::reserve(std::size_t count) {
  std::size_t size = 16;
  while (size < 2 * count) size *= 2;  // at most half full: short probes
  if (size <= slots_.size()) return;
  auto old = std::move(slots_);
  slots_.assign(size, slot{});
  for (const auto& s : old)
    if (s.value != 0) place(s.hash, s.value);
}

void hash_slots::place(std::uint64_t hash, std::uint32_t stored) {
  auto mask = slots_.size() - 1;
  auto at = hash & mask;
  while (slots_[at].value != 0) at = (at + 1) & mask;
  slots_[at] = slot{hash, stored};
}

void hash_slots::insert(std::uint64_t hash, std::uint32_t value) {
  reserve(used_ + 1);
  place(hash, value + 1);
  ++used_;
}

void hash_slots::erase(std::uint64_t hash, std::uint32_t value) {
  if (slots_.empty()) return;
  auto mask = slots_.size() - 1;
  auto at = hash & mask;
  for (;; at = (at + 1) & mask) {
    if (slots_[at].value == 0) return;
    if (slots_[at].hash == hash && slots_[at].value == value + 1) break;
  }
  // Shift back the slots after it that probed past it, so every probe still ends at an empty slot.
  for (auto next = (at + 1) & mask; slots_[next].value != 0; next = (next + 1) & mask) {
    auto home = slots_[next].hash & mask;
    if (((next - home) & mask) >= ((next - at) & mask)) {
      slots_[at] = slots_[next];
      at = next;
    }
  }
  slots_[at] = slot{};
  --used_;
}

void hash_slots::clear() {
  slots_.clear();
  used_ = 0;
}

}  // namespace dm2::dht
