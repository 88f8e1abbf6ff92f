// Memoized placements (placement_index::closest per name, as site indexes) that survive
// membership changes they cannot be affected by. closest(key, count, exclude) can change when a
// site X joins or leaves only if X is `exclude`, or X is no farther from the key than the
// farthest site chosen (a chosen site leaving, a nearer one joining), or fewer than `count` were
// chosen. So a change drops only the results near it: at 10,000 sites a replicator recomputes a
// few placements per change instead of all of them (profiled in dm2-sim: recomputing every
// holder set after every membership change, and walking every record per digest, took most of
// the run).
//
// Several replicators over one membership view may share one memo (dm2-sim: one for the whole
// simulated consortium; the node's replicator has its own). Each is a follower: the entries it
// reads are subscribed to, and a change's drops are delivered to their subscribers, so each
// change is checked and each moved placement recomputed once, not once per site.
//
// Not thread-safe.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "dm2/dht/hash_slots.hpp"
#include "dm2/dht/membership.hpp"
#include "dm2/dht/placement.hpp"

namespace dm2::dht {

class closest_cache {
 public:
  using follower = std::uint32_t;
  static constexpr follower no_follower = ~follower{0};
  follower follow();
  // The follower is gone: nothing more is delivered to it.
  void unfollow(follower f);
  // Brings the memo to the version of `members` (the changes since are applied once, by the
  // first follower to ask). One memo serves one view: another is a std::logic_error.
  void sync(const membership& members);
  // The site indexes of placement.closest(key_of(name), count, exclude), from the cache when
  // still valid; `f` follows the entry from now on. `p` must be the placement of the version
  // the memo was last synced to. The reference is valid until the next get, sync or clear.
  const site_list& get(follower f, const placement_index& p, const std::string& name, std::size_t count,
                       site_index exclude);
  // The same, looking first at slot `hint` (which it then sets to the name's slot): a caller
  // asking for the same names over and over skips the hash table's cold probe (dm2-sim's
  // sampler: one per record per sample). A stale hint costs one name compare.
  const site_list& get(follower f, const placement_index& p, const std::string& name, std::size_t count,
                       site_index exclude, std::uint32_t& hint);
  static constexpr std::uint32_t no_hint = ~std::uint32_t{0};
  // key_of(name) when the cache holds an entry for it (dropped or not), else null.
  const node_id* key(const std::string& name) const;
  // Appends to `out`, in name order, the names of the entries `f` followed that changes have
  // dropped since its last take (or that were recomputed for another count or exclude).
  void take_dropped(follower f, std::vector<std::string>& out);
  // `f` missed changes (or the memo was cleared) and starts over: its epoch and resets move, its
  // untaken drops are forgotten. Its subscriptions stay until their entries drop, so it may
  // later be told of names it no longer reads (it re-derives them: harmless, and rare).
  void reset(follower f);
  void clear();
  // Bumped for `f` whenever it takes dropped names or is reset: derived data keyed on it stays
  // valid while it holds.
  std::uint64_t epoch(follower f) const { return followers_[f].epoch; }
  // Bumped for `f` when it is reset and when it recomputes an entry for another count or
  // exclude: a caller following some names' drops starts over then.
  std::uint64_t resets(follower f) const { return followers_[f].resets; }

 private:
  struct alignas(64) entry {  // three cache lines, the look-up's first
    // The fields a look-up reads first, together: it compares the name, then reads the result
    // and subscribes (a cold entry is a cache miss per line it touches).
    std::string name;
    site_index exclude = no_site;
    std::uint32_t count = 0;
    bool dropped = false;
    boost::container::small_vector<follower, 4> followers;  // a record's owner and holders
    site_list ids;
    // A dropped entry keeps its name and key until the next batch, not its result: the caller
    // asks for most dropped names again at once (re-indexing the records a failure batch
    // moved), and key_of's SHA-256 was most of re-deriving a placement.
    std::uint32_t pending = 0;  // deliveries not yet taken: the name must stay
    std::uint32_t stamp = 0;    // of its current watch (0: none)
    std::uint64_t key_top = 0;  // first 64 bits of the key
    // First 64 bits of the farthest chosen site's distance to the key: a site whose distance
    // begins higher cannot matter. All ones when fewer than count were chosen (anyone matters).
    std::uint64_t reach = 0;
    node_id key{};
  };
  struct follower_state {
    bool active = true;
    std::uint64_t epoch = 0;
    std::uint64_t resets = 0;
    std::vector<std::uint32_t> inbox;  // dropped entries not yet taken
  };
  struct watch {
    std::uint64_t key_top;
    std::uint64_t reach;
    std::uint32_t at;     // in entries_
    std::uint32_t stamp;  // the entry's when watched: void once it is recomputed
    site_index exclude;
  };
  void apply(std::span<const membership_change> changes);
  void subscribe(entry& e, follower f);
  // Hands entry `at` to its current followers (but `except`) and forgets them.
  void deliver(std::uint32_t at, follower except);
  void watch_entry(std::uint32_t at);
  bool live(const watch& w) const;  // the entry still holds the result watched
  void merge_recent();
  std::optional<std::uint32_t> find(const std::string& name) const;

  std::vector<follower_state> followers_;
  const membership* view_ = nullptr;
  std::optional<std::uint64_t> synced_version_;
  // Entries in one array, found by name through by_name_; free slots are reused. A node-based
  // map of names was 13 % of dm2-sim's steady state; a deque still cost a look-up in its block
  // map, cold like the entry, at every find.
  std::vector<entry> entries_;
  std::vector<std::uint32_t> free_;
  // Dropped entries: freed at a later batch unless asked for again or still to be taken.
  std::vector<std::uint32_t> freeable_;
  hash_slots by_name_;
  // Watches of entries_ for apply(), sorted by key_top (a change looks only at the entries sharing
  // at least min_near_bits_ leading bits with it) and by exclude. New ones wait unsorted in
  // recent_, merged in once it holds a 32nd of them; a recomputed or dropped entry's watch is
  // void (its stamp) and left until then: rebuilding the arrays at every change batch was a
  // tenth of a 10,000-site run, and inserting in order a fifth of one with a shared memo.
  std::vector<watch> watch_;
  std::vector<watch> by_exclude_;
  std::vector<watch> recent_;
  std::uint32_t stamps_ = 0;
  int min_near_bits_ = 64;  // never above the true minimum (lowered on insert, recomputed by merges)
  // Which filter_bits-bit prefixes a change near an entry can have (each entry marks its own
  // reach's run: the widest reach no longer coarsens every other entry's test) and which
  // excluded sites (mod filter_size) have an entry: most changes hit neither, and cost two bit
  // tests.
  static constexpr int filter_bits = 10;
  static constexpr std::size_t filter_size = std::size_t{1} << filter_bits;
  std::array<std::uint64_t, filter_size / 64> near_filter_{};  // words: an entry marks a run at once
  std::bitset<filter_size> exclude_filter_;
  void mark_near(const watch& w);
  bool near(std::uint64_t key_top) const;
};

}  // namespace dm2::dht
