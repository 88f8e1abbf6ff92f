// Memoized placements (placement_index::closest per name, as site indexes) that survive
// membership changes they cannot be affected by. closest(key, count, exclude) can change when a
// site X joins or leaves only if X is `exclude`, or X is no farther from the key than the
// farthest site chosen (a chosen site leaving, a nearer one joining), or fewer than `count` were
// chosen. So a change drops only the results near it: at 10,000 sites a replicator recomputes a
// few placements per change instead of all of them (profiled in dm2-sim: recomputing every
// holder set after every membership change, and walking every record per digest, took most of
// the run).
//
// Not thread-safe (one per replicator).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dm2/dht/hash_slots.hpp"
#include "dm2/dht/membership.hpp"
#include "dm2/dht/placement.hpp"

namespace dm2::dht {

class closest_cache {
 public:
  // The site indexes of placement.closest(key_of(name), count, exclude), from the cache when
  // still valid. `p` must be the placement of the membership version the cache was last synced to.
  // The reference is valid until the next call to get, apply or clear.
  const site_list& get(const placement_index& p, const std::string& name, std::size_t count,
                       site_index exclude);
  // The same, looking first at slot `hint` (which it then sets to the name's slot): a caller
  // asking for the same names over and over skips the hash table's cold probe (dm2-sim's
  // sampler: one per record per sample). A stale hint costs one name compare.
  const site_list& get(const placement_index& p, const std::string& name, std::size_t count,
                       site_index exclude, std::uint32_t& hint);
  static constexpr std::uint32_t no_hint = ~std::uint32_t{0};
  // key_of(name) when the cache holds an entry for it (dropped or not), else null.
  const node_id* key(const std::string& name) const;
  // Drops the results `changes` may have altered (and adds their names to `dropped`).
  void apply(std::span<const membership_change> changes, std::vector<std::string>* dropped = nullptr);
  void clear();
  // Bumped whenever a result is dropped: derived data keyed on it stays valid while it holds.
  std::uint64_t epoch() const { return epoch_; }
  // Bumped by clear() and when a name's entry is recomputed for another count or exclude: a
  // caller following some names' drops through apply() starts over then.
  std::uint64_t resets() const { return resets_; }

 private:
  struct entry {
    std::string name;
    // A dropped entry keeps its name and key until the next batch, not its result: the caller
    // asks for most dropped names again at once (re-indexing the records a failure batch
    // moved), and key_of's SHA-256 was most of re-deriving a placement.
    node_id key{};
    bool dropped = false;
    site_index exclude = no_site;
    std::uint32_t count = 0;
    std::uint64_t key_top = 0;  // first 64 bits of the key
    // First 64 bits of the farthest chosen site's distance to the key: a site whose distance
    // begins higher cannot matter. All ones when fewer than count were chosen (anyone matters).
    std::uint64_t reach = 0;
    site_list ids;  // inline: an entry is read at every holder look-up
  };
  struct watch {
    std::uint64_t key_top;
    std::uint64_t reach;
    std::uint32_t at;  // in entries_
  };
  void watch_entry(std::uint32_t at);
  void unwatch(std::uint32_t at);
  std::optional<std::uint32_t> find(const std::string& name) const;

  // Entries in one array, found by name through by_name_; free slots are reused. A node-based
  // map of names was 13 % of dm2-sim's steady state; a deque still cost a look-up in its block
  // map, cold like the entry, at every find.
  std::vector<entry> entries_;
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> last_dropped_;  // by the last apply(): freed by the next unless asked for
  hash_slots by_name_;
  // entries_ for apply(), kept sorted as entries come and go (rebuilding them at every change
  // batch was a tenth of a 10,000-site run): by key_top (a change looks only at the entries
  // sharing at least min_near_bits_ leading bits with it) and by exclude.
  std::vector<watch> watch_;
  std::vector<std::pair<site_index, std::uint32_t>> by_exclude_;
  int min_near_bits_ = 64;  // never above the true minimum (lowered on insert, reset by clear)
  // Which filter_bits-bit prefixes a change near an entry can have (each entry marks its own
  // reach's run: the widest reach no longer coarsens every other entry's test) and which
  // excluded sites (mod filter_size) have an entry: most changes hit neither, and cost two bit
  // tests (at 10,000 sites every site checks every change of a batch: 166 a sample, ten
  // thousand times).
  static constexpr int filter_bits = 10;
  static constexpr std::size_t filter_size = std::size_t{1} << filter_bits;
  std::array<std::uint64_t, filter_size / 64> near_filter_{};  // words: an entry marks a run at once
  std::bitset<filter_size> exclude_filter_;
  void mark_near(const watch& w);
  bool near(std::uint64_t key_top) const;
  void rebuild_filters();
  std::uint64_t epoch_ = 0;
  std::uint64_t resets_ = 0;
};

}  // namespace dm2::dht
