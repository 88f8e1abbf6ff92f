// What a replicator derives from the records it holds: each record's holders, digest bucket and
// hash, and per peer the digest of the records it should hold too. Kept up to date record by
// record (a write, or a placement the membership moved) instead of rebuilt from the whole store:
// at 10,000 sites every site sees a few placements move every few seconds, and rebuilding the
// index for each was most of dm2-sim's run (docs/simulator.md). A digest request then compares
// two prepared lists.
//
// Not thread-safe (one per replicator).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dm2/dht/hash_slots.hpp"
#include "dm2/dht/replica_store.hpp"
#include "dm2/dht/site_indexes.hpp"
#include "dm2/dht/site_map.hpp"

namespace dm2::dht {

struct held_record {
  record_summary summary;
  site_list holders;  // owner (if live) first, then the k replicas
  std::uint32_t bucket = 0;
  std::uint64_t hash = 0;  // the record's digest contribution
  bool owed = false;       // this site is among the holders
  site_index owner = no_site;  // summary.owner's index (no_site: the view did not list it)
  std::uint32_t placement_hint = ~std::uint32_t{0};  // its slot in the placement memo
};

using bucket_digest = std::vector<std::pair<std::uint32_t, std::uint64_t>>;  // by bucket

// The records one peer should hold too, as digests.
struct peer_digests {
  bucket_digest digest;       // over all of them: what we send the peer
  bucket_digest owed_digest;  // over those we owe: what the peer's digest must match
  std::uint64_t print = 0;    // fingerprint of `digest`
  bool unowed = false;        // some of them we no longer owe (digest != owed_digest)
  // When a record last joined them (a stamp, increasing across peers): a digest whose records
  // only left since an agreed one is agreed too.
  std::uint64_t added = 0;
};

class record_index {
 public:
  using bucket_records = std::map<std::string, held_record>;  // by lfn

  // This site's index (no_site until the membership lists it: no placement holds it then).
  void set_self(site_index self) { self_ = self; }
  void clear();
  // Adds `h`, or replaces the record of the same LFN.
  void put(held_record h);
  void erase(const std::string& lfn);
  const held_record* find(const std::string& lfn) const {
    auto at = slot_of(std::hash<std::string>{}(lfn), lfn);
    return at ? held_[*at] : nullptr;
  }

  // Every record we hold but no longer owe (placement moved it away), by LFN: a round walks
  // these for hand-off instead of every record.
  template <typename F>
  void for_each_unowed(F&& fn) const {
    for (const auto& [lfn, h] : unowed_) fn(*h);
  }
  const bucket_records* bucket(std::uint32_t b) const;
  // The records `peer` should hold too (null: none), as digests derived from its cells at each
  // call (a peer shares a record or two with us: keeping the digests too was two more heap
  // blocks per peer to miss on). Valid until the next call.
  const peer_digests* peer(site_index peer);
  std::uint64_t print() const { return print_; }  // fingerprint of every record's holders
  // Every peer whose digests may have changed (or that left the index) since the last call, each
  // once, in no order: a round looks at these (and the peers it still waits on) instead of
  // walking every peer (the walk was a tenth of dm2-sim's steady state at 10,000 sites).
  std::vector<site_index> take_touched();

  // What the index was last made consistent with; the replicator compares them.
  bool built = false;
  std::uint64_t generation = 0;  // of the store
  std::uint64_t epoch = 0;       // of the placement cache

 private:
  struct cell {
    std::uint64_t all = 0, owed = 0;  // XOR of hashes
    std::uint32_t all_count = 0, owed_count = 0;
  };
  struct peer_state {
    // By bucket, sorted, two in place: a peer shares a record or two with us, so a short list
    // beats a tree (no pointer chasing; the index's maps were most of dm2-sim's first minute).
    boost::container::small_vector<std::pair<std::uint32_t, cell>, 2> cells;
    std::uint64_t touched = 0;  // touch_round_ when last listed in touched_
    std::uint64_t added = 0;    // additions_ when a record last joined
  };
  void touch(site_index id, peer_state& p);
  void account(const held_record& h, bool add);
  void account_peer(site_index id, const held_record& h, bool add);
  void reaccount(const held_record& before, const held_record& after);
  const peer_digests& digests_of(const peer_state& p);
  peer_digests digests_;  // what peer() returned last
  static std::uint64_t holders_print(const held_record& h);

  site_index self_ = no_site;
  // By bucket, sorted: a site holds a few dozen records, so a short vector beats a tree (a cold
  // tree walk per differing bucket of every digest was 3 % of dm2-sim's steady state). Moving a
  // bucket's map keeps its nodes: pointers into them stay valid.
  std::vector<std::pair<std::uint32_t, bucket_records>> buckets_;
  std::vector<std::pair<std::uint32_t, bucket_records>>::iterator bucket_slot(std::uint32_t b);
  static_assert(std::is_nothrow_move_constructible_v<bucket_records>, "growing buckets_ must move, not copy");
  // LFN -> record, as one flat probe (a node-based map cost a bucket and a node, both cold, per
  // look-up: 3.7 % of dm2-sim's steady state, mostly names a failure batch moved that this site
  // does not hold). Values index held_, whose free slots are reused.
  hash_slots by_lfn_;
  std::vector<held_record*> held_;  // into buckets_
  std::vector<std::uint32_t> held_free_;
  std::optional<std::uint32_t> slot_of(std::uint64_t hash, const std::string& lfn) const {
    return by_lfn_.find(hash, [&](std::uint32_t at) { return held_[at]->summary.lfn == lfn; });
  }
  std::map<std::string, const held_record*> unowed_;          // into buckets_
  site_map<peer_state> peers_;  // looked up at every digest and every record re-indexed
  std::uint64_t print_ = 0;
  std::vector<site_index> touched_;
  std::uint64_t touch_round_ = 1;
  std::uint64_t additions_ = 0;
};

}  // namespace dm2::dht
