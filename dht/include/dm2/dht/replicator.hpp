// One site's replication engine: places records and key shares, pushes new writes to their
// holders, and repairs by anti-entropy (docs/overlay.md). A state machine with no thread and no
// I/O of its own: the caller feeds it time (tick) and messages (on_message), and it talks through
// the injected transport. The node, the tests and dm2-sim drive this same class.
//
// Not thread-safe: the caller serializes every call (in the node, one strand).
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dm2/dht/clock.hpp"
#include "dm2/dht/membership.hpp"
#include "dm2/dht/messages.hpp"
#include "dm2/dht/placement.hpp"
#include "dm2/dht/replica_store.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/dht/site_map.hpp"
#include "dm2/dht/transport.hpp"

namespace dm2::dht {

struct replication_settings {
  std::size_t k = 3;                 // replicas per record, besides the owner's copy
  std::size_t bucket_count = 64;     // digest buckets (1..65536); more = smaller diffs, bigger digests
  millis repair_period{30'000};      // anti-entropy round period (also run on membership change)
  // A peer that acknowledged our digest (its records agree with ours) is not sent the same
  // digest again until something changes: our records or their holders, or the peer's
  // incarnation (it restarted, maybe with a wiped disk: site_info::incarnation). Non-zero: also
  // re-send it after this many periods, a timer for losses nothing announces (each pair
  // re-checking on a timer was 77 % of dm2-sim's messages at 10,000 sites).
  std::size_t agreed_recheck_rounds = 0;
  millis membership_debounce{1'000}; // at most one membership-triggered round per this interval
  // A site's first round (driven by tick(), not start_round()) waits fingerprint(site id) modulo
  // this: sites started together do not all digest in the same instant, racing the writes they
  // just pushed to each other (dm2-sim starts every site at once after its initial pushes: at
  // 10,000 sites ~140,000 records went twice). 0: at the first tick. The phase stays: later
  // periodic rounds follow the first by repair_period.
  millis first_round_spread{0};
  millis share_inventory_wait{2'000};  // how long the owner collects share inventories per round
  // A share repair (owner down) that has not completed by then is forgotten; the next round
  // retries. Covers a helper or the target dying mid-repair.
  millis share_repair_timeout{10'000};
  // A copy no longer owed is handed off only after it has been unowed this long: membership
  // views flap (a slow ping), and dropping on every flap would lower durability for nothing.
  millis handoff_grace{120'000};
  std::size_t max_records_per_message = 256;  // pushes and pulls are chunked to this
  std::size_t max_payload_bytes = 64 * 1024;  // larger records are refused on receipt
  std::size_t max_entries_per_message = 100'000;  // larger digests / lists are refused
};

// Produces share `index` of key `key_id`, sealed to `holder_site`. The owner's key layer
// implements it (deterministic Shamir coefficients let it re-create any index — the same bytes a
// repair while it was down gives that index); it sets key_share::threshold (the replicator sets
// count = n). nullopt when the key is unknown.
class share_source {
 public:
  virtual ~share_source() = default;
  virtual std::optional<key_share> make_share(const std::string& key_id, std::uint32_t index,
                                              const std::string& holder_site) = 0;
};

class closest_cache;
// Memoized placements that replicators over one membership view can share: each membership
// change is then checked, and each placement it moves recomputed, once for all of them (dm2-sim:
// one memo for the simulated consortium instead of one per site).
std::shared_ptr<closest_cache> shared_closest_cache();

struct replicator_collaborators {
  const clock* time = nullptr;
  transport* net = nullptr;
  const membership* members = nullptr;
  replica_store* store = nullptr;
  share_source* shares = nullptr;  // may be null when this site owns no keys
  // Opens the shares we hold and seals repaired ones to us; null = take no part in share repair.
  share_keyring* keyring = nullptr;
  // Placements shared with other replicators of the same view (shared_closest_cache()); null:
  // this replicator keeps its own.
  std::shared_ptr<closest_cache> placements{};
};

struct replicator_counters {
  std::uint64_t rounds = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t records_pushed = 0;
  std::uint64_t records_accepted = 0;
  std::uint64_t records_refused = 0;  // not ours to hold, oversized, malformed
  std::uint64_t shares_pushed = 0;
  std::uint64_t messages_refused = 0;
  std::uint64_t records_handed_off = 0;  // copies dropped once every holder confirmed them
  // Share repair while an owner is down (docs/overlay.md, "Share repair").
  std::uint64_t repairs_started = 0;      // repairs this site coordinated
  std::uint64_t repairs_contributed = 0;  // repairs this site sent pieces for
  std::uint64_t shares_repaired = 0;      // shares this site received by repair
  std::uint64_t repair_refused = 0;       // repair messages refused (malformed, unexpected)
  std::uint64_t repairs_impossible = 0;   // coordinator rounds that found fewer than t live shares
};

class share_repairer;
class record_index;
struct held_record;

class replicator {
 public:
  replicator(std::string self_site, replication_settings settings, replicator_collaborators c);
  ~replicator();
  replicator(const replicator&) = delete;
  replicator& operator=(const replicator&) = delete;

  const std::string& self() const { return self_; }
  const replication_settings& settings() const { return settings_; }

  // The owner's write: stores locally and pushes at once to the record's k replica holders.
  void publish(const record& r);
  // Registers a key this site owns, split into `n` shares. Once rounds have begun, its shares go
  // out at the next tick with no share check running (not a repair period later).
  void own_key(const std::string& key_id, std::uint32_t n);

  // Runs due work: an anti-entropy round when the period elapsed or membership changed, and the
  // evaluation of share inventories collected since the last round.
  void tick();
  // Forces a round now (used on start and after a restart).
  void start_round();
  // Handles one message from `from_site`. Malformed or oversized input is counted and ignored.
  // `from_index`: the sender's index in this replicator's view, when the transport knows it
  // (transport::send_indexed over a shared view); no_site: looked up by id.
  void on_message(const std::string& from_site, const message& m, site_index from_index = no_site);
  // When tick() next has work, as long as no message arrives, none of publish, own_key,
  // start_round and on_message is called, and the membership keeps the version it has now
  // (millis::min(): at the next tick). A driver of thousands of replicators (dm2-sim) skips the
  // ticks before it instead of reading each idle replicator's state at every tick (24 M ticks
  // in the 10,000-site hour, nearly all idle).
  millis next_work() const;
  // Each of those calls sets `*cell` to millis::min(): the driver keeping next_work() in its
  // own table learns of work it did not cause (null: nobody listens).
  void wake_cell(millis* cell) { wake_cell_ = cell; }
  const membership& members() const { return *c_.members; }

  // Where `lfn` belongs now, as site indexes (site_id() names them): owner (if live) first, then
  // the k replicas.
  site_list holders_of(const record& r);
  site_list holders_of(const std::string& lfn, const std::string& owner);
  // The `count` live sites closest to key_of(name) other than `exclude` (placement's closest),
  // memoized across membership changes that cannot alter it.
  const site_list& closest(const std::string& name, std::size_t count, site_index exclude);
  // The same for a caller that asks for the same names again and again: `hint` (start at
  // ~0u, one per name) spares the memo's hash table (closest_cache::get).
  const site_list& closest(const std::string& name, std::size_t count, site_index exclude,
                           std::uint32_t& hint);
  // A site's stable index in the membership view (no_site: never listed), and back.
  site_index index_of(const std::string& site) const;
  const std::string& site_id(site_index site) const { return c_.members->site_id_of(site); }
  site_index self_index();  // no_site until the view lists this site
  const placement_index& placement();
  const replicator_counters& counters() const { return counters_; }
  // Record copies this site found missing or stale at other holders since the current round
  // began (and has pushed): a cheap measure of repair debt for `dm2 overlay status`.
  std::size_t replicas_owed() const { return owed_; }

 private:
  void send(const std::string& to, message m);
  void send(site_index to, message m);
  // To `to`, by its index when known (no_site: by id).
  void send(const std::string& to, site_index to_index, message m);
  void wake() {
    if (wake_cell_) *wake_cell_ = millis::min();
  }
  millis* wake_cell_ = nullptr;
  // A round with holders_print() already taken (tick() took it to decide).
  void begin_round(std::optional<std::uint64_t> print);
  std::uint32_t bucket_of(const std::string& lfn) const;
  void run_record_round();
  void run_share_round();
  void evaluate_shares();
  void on_digest_request(const std::string& from, site_index from_index, const digest_request& m);
  void on_digest_reply(const std::string& from, site_index from_index, const digest_reply& m);
  void on_pull(const std::string& from, const pull_request& m);
  void on_push(const std::string& from, const push_records& m);
  void on_share_inventory_request(const std::string& from, const share_inventory_request& m);
  void on_share_inventory_reply(const std::string& from, const share_inventory_reply& m);
  void on_push_shares(const std::string& from, const push_shares& m);
  void on_drop_shares(const std::string& from, const drop_shares& m);
  std::vector<std::string> share_targets(const std::string& key_id, std::uint32_t n);
  site_index self_index_ = no_site;
  void push_chunked(const std::string& to, site_index to_index, std::vector<record> records);

  std::string self_;
  replication_settings settings_;
  replicator_collaborators c_;
  replicator_counters counters_;

  // Applies membership changes to the placement cache; the index itself is fetched lazily.
  void sync_placement();
  record_index& index();
  struct held_record held(const record_summary& r);  // r with its holders, bucket and hash
  // The same record as `before` with the holders placement gives it now: its summary, bucket
  // and hash are the index's (the store was not written), its owner's index too.
  struct held_record moved(const held_record& before);
  site_list holders_of(const std::string& lfn, site_index owner);
  // The same, looking first at the placement memo's slot `hint` (closest()).
  site_list holders_of(const std::string& lfn, site_index owner, std::uint32_t& hint);
  // After our own write: the index re-reads `lfns` instead of the whole store (when it was
  // current before the write).
  void wrote(std::uint64_t generation_before, const std::vector<std::string>& lfns);

  std::shared_ptr<const placement_index> placement_ = std::make_shared<placement_index>();
  std::optional<std::uint64_t> placement_version_;  // of placement_
  std::optional<std::uint64_t> synced_version_;     // of closest_
  std::shared_ptr<closest_cache> closest_;
  std::uint32_t follower_;  // this replicator in closest_
  std::unique_ptr<record_index> index_;
  std::set<std::string> stale_records_;  // to re-index from the store: written by us
  // Names whose placement moved since the index was current: those it holds are re-indexed
  // from their own entries (not read from the store again: a sixth of the re-indexing).
  std::vector<std::string> moved_records_;
  std::uint64_t print_epoch_ = ~std::uint64_t{0};  // closest_'s epoch when placement_print_ was taken
  std::uint64_t repair_resets_ = 0;  // closest_'s resets when repair_'s print was last asked for
  std::optional<std::uint64_t> round_version_;  // membership version at the last round
  millis next_round_{0};
  std::size_t owed_ = 0;

  std::unique_ptr<share_repairer> repair_;  // shares we hold of keys whose owner is down
  // A key this site owns and what its owner knows of where the shares sit. A share round checks
  // only the keys whose targets moved (or restarted, or were not all in place), and asks only
  // the sites it cannot vouch for: at 10,000 sites an owner whose one key's targets moved asked
  // every target and former holder about every key it owns (a quarter of dm2-sim's messages).
  struct share_holding {
    std::string site;
    std::uint32_t index = 0;
    std::uint64_t incarnation = 0;  // the site's when it answered
    millis at{0};                   // the round it answered in
  };
  struct owned_share_key {
    std::uint32_t n = 0;
    std::uint32_t placement_hint = ~std::uint32_t{0};  // its slot in the placement memo
    // Shares the last check found, less those it pushed or dropped (their sites are `unsure`):
    // trusted without asking while the site keeps that incarnation (and, with timed re-checks,
    // until the recheck). A site down at a check keeps its entries: asked when it is back.
    std::vector<share_holding> known;
    std::vector<std::string> unsure;
    // The last check: its targets, every live site it asked or vouched for (with its
    // incarnation then), when; `placed` when it found each index on its own target and nothing
    // to push or drop. A placed key is not checked again until its targets move or one restarts.
    std::vector<std::string> targets;
    site_list target_sites{};  // the same as indexes: compared at every change and round
    struct consulted_site {
      std::string site;
      std::uint64_t incarnation = 0;
      bool asked = false;  // or vouched for from `known`
    };
    std::vector<consulted_site> consulted;
    millis checked_at{0};
    bool placed = false;
    bool checking = false;  // asked in the round being evaluated
  };
  std::map<std::string, owned_share_key> owned_keys_;
  // Share inventory collected for the keys being checked: key_id -> index -> holders.
  std::map<std::string, std::map<std::uint32_t, std::set<std::string>>> inventory_;
  std::optional<millis> evaluate_at_;
  bool keys_unchecked_ = false;  // a key owned since the last share check began
  // Records the evaluation of key `k` (its inventory `held`; the sites pushed to or told to drop).
  void remember_shares(owned_share_key& k, const std::map<std::uint32_t, std::set<std::string>>& held,
                       const std::set<std::string>& touched);
  millis last_round_{0};
  // Records we hold but no longer owe (placement moved): lfn -> holders that have not yet shown,
  // in a digest reply, the same or a newer version. When none is left, our copy is dropped.
  std::map<std::string, std::set<site_index>> handoff_;
  std::map<std::string, millis> unowed_since_;  // lfn -> first round that found it not owed
  // The digest last sent to each peer, and whether the peer acknowledged it (and when): an
  // acknowledged, unchanged digest is not sent again before the recheck.
  struct peer_digest {
    std::uint64_t print = 0;
    bool acknowledged = false;
    millis agreed_at{0};
    std::uint64_t incarnation = 0;  // the peer's, when it acknowledged
    std::uint64_t site_print = 0;   // fingerprint(peer): its bit in watched_
    std::uint64_t added = 0;        // peer_digests::added of `print`
  };
  // By site index, in open addressing: looked up at every digest and reply, never walked in an
  // order that matters (a cold tree of ~100 site ids was 7 % of dm2-sim's first minute; string
  // keys 5 % of its steady state; a node-based hash map's bucket and node still 5 %).
  site_map<peer_digest> peer_digests_;
  // Peers the next round must look at (besides those the index says changed): sent a digest
  // not yet acknowledged, or their agreement was voided. Every other peer agrees.
  std::vector<site_index> due_peers_;
  // A peer or share target (re)joined the live set or restarted since it agreed: its agreement
  // is void, and tick() starts a round for it. With a membership change log, a change is
  // looked up only when its site's bit is set in watched_ (peers and share targets); without
  // one, every agreement's incarnation is compared at each membership change.
  void forget_agreements(std::span<const membership_change> changes);
  void compare_incarnations();
  void acknowledge(site_index peer, std::uint64_t print, std::uint64_t added);
  std::uint64_t incarnation_of(const std::string& site);
  std::uint64_t incarnation_of(site_index site);
  void watch(std::uint64_t site_print) { watched_.set(site_print % watched_.size()); }
  void rewatch();
  std::bitset<4096> watched_;
  std::size_t peers_left_ = 0;  // since the last rewatch(): watched_ holds their bits still
  bool agreement_voided_ = false;
  bool incarnations_unknown_ = false;
  std::uint64_t placement_print_ = 0;  // fingerprint of our records' holder sets at the last round
  std::uint64_t holders_print();
  mutable std::unordered_map<std::string, std::uint32_t> bucket_cache_;  // lfn -> digest bucket
};

}  // namespace dm2::dht
