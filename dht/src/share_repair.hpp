// Share repair while a key's owner is down (docs/overlay.md, "Share repair"): the replicator's
// part for keys this site holds a share of. Each round every holder of such a key asks the key's
// share targets which shares they hold; the live holder with the lowest index coordinates and,
// when fewer than n but at least t indexes are live, starts one enrolment repair
// (crypto/share_repair.hpp) per missing index for a share target that holds none. Helpers
// exchange pieces directly and send their sums to the target, which assembles and seals the
// share to itself. No session state survives its timeout; the next round retries.
//
// Not thread-safe: the replicator calls it from its own (serialized) calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dm2/dht/clock.hpp"
#include "dm2/dht/messages.hpp"
#include "dm2/dht/placement.hpp"
#include "dm2/dht/replica_store.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/dht/share_keyring.hpp"

namespace dm2::dht {

class share_repairer {
 public:
  struct context {
    std::string self;
    const clock* time = nullptr;
    replica_store* store = nullptr;
    share_keyring* keyring = nullptr;
    std::function<void(const std::string& to, message m)> send;
    std::function<const placement_index&()> placement;
    // placement().closest(key_of(name), count, exclude) as site indexes, memoized by the
    // replicator; site_id names an index.
    std::function<const site_list&(const std::string& name, std::size_t count, site_index exclude)> closest;
    std::function<const std::string&(site_index)> site_id;
    std::function<site_index(const std::string&)> index_of;  // no_site: never listed
    const replication_settings* settings = nullptr;
    replicator_counters* counters = nullptr;
  };
  explicit share_repairer(context c);
  ~share_repairer();

  // Asks the share targets of every key we hold a share of whose owner is not live.
  void start_round();
  // Coordinates once the inventories are in; expires old sessions.
  void tick();
  // When tick() next has something to do (a coordination or an expiry), until a message or a
  // round sets another deadline.
  millis next_work() const { return coordinate_at_ ? std::min(*coordinate_at_, next_expiry_) : next_expiry_; }
  // A fingerprint of what repair depends on (held keys' targets and owners' liveness). Kept
  // while the store's shares stay (share_generation) and none of the placements it read is
  // dropped: it was recomputed at nearly every failure batch, walking every held share (4-5 %
  // of dm2-sim's steady state at 10,000 sites), though a batch rarely touches one.
  std::uint64_t print();
  // The replicator dropped these memoized placements (`names` sorted), or all of them.
  void placements_dropped(const std::vector<std::string>& names);
  void placements_reset() { print_.reset(); }

  void on_inventory_request(const std::string& from, const repair_inventory_request& m);
  // An inventory entry for a key we are repairing (index 0: the sender holds none of it); false
  // if it is not ours to take.
  bool on_inventory_entry(const std::string& from, const std::string& key_id, std::uint32_t index);
  void on_start(const std::string& from, const repair_plan& plan);
  void on_piece(const std::string& from, const repair_piece& m);
  void on_sum(const std::string& from, const repair_sum& m);

 private:
  struct helper_session {
    std::optional<repair_plan> plan;
    std::uint32_t my_index = 0;
    std::map<std::uint32_t, std::pair<std::string, std::string>> pieces;  // index -> (site, piece)
    millis expires{0};
  };
  struct target_session {
    repair_plan plan;
    std::map<std::uint32_t, std::string> sums;  // helper index -> sum
    millis expires{0};
  };
  // Ours, of another site's key, with a sound n and t: repairable once its owner is down.
  bool repairable_kind(const key_share& s) const;
  std::vector<key_share> repairable_shares() const;  // ours, of keys whose owner is not live
  // The owners of the shares of a repairable kind we hold, as indexes, while the store's shares
  // stay (share_generation): a round whose owners are all live skips the walk over the shares
  // (string compares and an owner look-up each, 2.7 % of dm2-sim's 10,000-site steady state).
  // They are also what print() walks, in the store's order.
  const std::vector<site_index>& owners() const;
  mutable std::vector<site_index> owners_;
  mutable std::uint64_t owners_generation_ = 0;  // 0: not taken
  std::vector<std::string> targets(const key_share& s) const;
  bool plan_is_sound(const repair_plan& plan) const;
  bool holds_key(const std::string& key_id) const;
  // Starts the repairs `mine`'s key needs; or, when a target has not answered, adds the key to
  // `silent` under that target (site -> key ids) and returns true (coordinate it again later).
  bool coordinate_key(const key_share& mine, std::map<std::string, std::vector<std::string>>& silent);
  void request_inventories(std::map<std::string, std::vector<std::string>>& ask);  // site -> key ids
  void contribute(const std::string& session, helper_session& h);
  void finish_if_complete(const std::string& session);
  void refuse(const std::string& from, const char* reason);
  void forget(std::string& bytes);  // wipes a buffered piece or sum and releases its budget
  bool buffer(std::size_t bytes);   // false when over the budget

  void expire();
  void due(millis at) { next_expiry_ = std::min(next_expiry_, at); }  // a deadline was set

  context c_;
  std::map<std::string, key_share> round_keys_;  // key_id -> our share, this round
  std::map<std::string, std::map<std::uint32_t, std::set<std::string>>> inventory_;
  std::map<std::string, std::set<std::string>> answered_;  // key_id -> targets that answered
  // A held key whose last inventory left nothing for us to do (every index live, or a lower one
  // coordinates), with its targets and their incarnations when asked: not asked about again
  // while they stay (a share leaves a site only by a restart or its owner's drop, and the owner
  // is down). Holders asked every round while an owner stayed down: 0.66 M requests in
  // dm2-sim's 10,000-site hour, nearly all answered as before.
  struct settled_key {
    std::uint32_t index = 0;  // ours
    std::vector<std::pair<std::string, std::uint64_t>> targets;
    millis at{0};
  };
  std::map<std::string, settled_key> settled_;
  std::map<std::string, std::vector<std::pair<std::string, std::uint64_t>>> asked_;  // this round
  bool settled(const key_share& mine, const std::vector<std::string>& tg) const;
  void settle(const key_share& mine);
  std::optional<millis> coordinate_at_;
  static constexpr int max_reasks = 3;  // inventory requests re-sent per round to silent targets
  int reasks_ = 0;
  std::map<std::pair<std::string, std::uint32_t>, millis> started_;  // (key, j) -> until
  std::map<std::string, helper_session> helping_;
  std::map<std::string, target_session> receiving_;
  // No deadline in started_, helping_ or receiving_ is earlier: expire(), at every tick of every
  // site, walks them only from then (the walk was 2.4 % of dm2-sim's 10,000-site steady state).
  millis next_expiry_ = millis::max();
  std::size_t buffered_ = 0;  // bytes of pieces and sums held
  std::optional<std::uint64_t> print_;  // print() while it holds
  std::uint64_t print_generation_ = 0;  // the store's share generation when print_ was taken
  std::vector<std::string> print_keys_;  // sorted: the keys whose placements print_ read
};

}  // namespace dm2::dht
