// An in-memory network for tests and dm2-sim (simulations/; the node never links it): delivers
// replicator messages after a simulated latency (and, with processing costs, after each site's
// queue of messages before them: processing.hpp), loses those to dead sites, and counts them.
// Deterministic for a given seed.
// Not thread-safe: one thread drives it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "dm2/dht/clock.hpp"
#include "dm2/dht/hash_slots.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/dht/transport.hpp"
#include "dm2/sim/processing.hpp"

namespace dm2::dht {

struct sim_network_settings {
  millis latency{5};          // one-way base latency
  // When set, the one-way base latency from one site to another instead (dm2-sim's latency
  // model: per region pair, or a matrix file).
  std::function<millis(const std::string& from, const std::string& to)> pair_latency;
  millis jitter{5};           // plus uniform [0, jitter]
  millis tick_interval{100};  // how often every live replicator's tick() runs
  // Skips a replicator's ticks before its next_work() (no message or call woke it, its
  // membership kept its version): they would do nothing. Off: every tick runs (the tests
  // compare both).
  bool skip_idle_ticks = true;
  double loss_rate = 0.0;     // probability that a message is lost
  // Per-site service queue (processing.hpp): a message that arrived is handed to the site once
  // the site finished the messages that arrived before it, plus its own service time. All 0:
  // delivered on arrival.
  processing_costs processing;
  std::uint64_t seed = 1;
};

class sim_network final : public transport {
 public:
  sim_network(manual_clock& time, sim_network_settings settings);

  void attach(replicator* r);  // by r->self(); the site starts alive
  // Another engine at the same site (query fan-out): gets every message delivered there after
  // the replicator, and a tick with it.
  struct extra_handler {
    std::function<void(const std::string& from, const message& m)> on_message;
    std::function<void()> tick;
  };
  void attach_handler(const std::string& site_id, extra_handler h);
  // A site going down loses the messages waiting in its queue (its process is gone).
  void set_alive(const std::string& site_id, bool alive);
  // A network partition: messages for which `blocked(from, to)` holds are lost (and counted as
  // sent); an empty function heals it. Sites on both sides stay live in everyone's membership.
  void set_partition(std::function<bool(const std::string& from, const std::string& to)> blocked);
  bool alive(const std::string& site_id) const;

  void send(const std::string& from_site, const std::string& to_site, message m) override;
  // While every attached replicator shares one membership view (dm2-sim, the tests' clusters),
  // finds `to` by its view index and hands the receiver `from`'s (profiled at 10,000 sites:
  // hashing both ids per message was 5 % of the run); otherwise by id.
  void send_indexed(const std::string& from_site, site_index from, const std::string& to_site, site_index to,
                    message m) override;
  // Advances the clock to `until`, delivering messages and ticking live replicators on the way.
  void run_until(millis until);
  // Runs until no message is in flight or `limit` is reached. Returns the time reached.
  millis run_until_quiet(millis limit);

  std::uint64_t messages_sent() const { return sent_; }
  // Messages sent, by message::index() (message_name() names them).
  const std::vector<std::uint64_t>& sent_by_type() const { return sent_by_type_; }
  std::uint64_t messages_delivered() const { return delivered_; }
  std::uint64_t ticks_run() const { return ticks_run_; }  // replicator ticks, skipped ones not counted
  std::size_t in_flight() const { return queue_.size(); }

 private:
  // One per site id ever named (attached, given a handler or a liveness): messages and ticks
  // find a site by index, not by hashing its id twice per message (profiled at 10,000 sites).
  struct site_slot {
    replicator* engine = nullptr;
    bool alive = false;
    // Whether `extra` has each part, beside `alive`: testing the std::functions themselves read
    // a second cache line of every site at every tick and message (profiled at 10,000 sites).
    bool extra_ticks = false, extra_messages = false;
    std::uint32_t lives = 0;         // times it went down: a queued message is for one life
    std::int64_t busy_until_us = 0;  // when its queue empties (processing)
    // The engine's next_work() after its last tick, and the membership version it was taken
    // at: ticks before it are skipped (the engine sets it to millis::min() when a call gives
    // it work, a message included).
    millis wake_at = millis::min();
    std::uint64_t version_seen = 0;
    const membership* members = nullptr;  // the engine's view
    std::string id;
    extra_handler extra;
  };
  struct envelope {
    std::string from;
    site_index from_index = no_site;  // in the shared view (no_site: unknown)
    std::uint32_t to = 0;  // index in slots_
    message m;
    bool queued = false;     // arrived and waited its turn at `to` (processing)
    std::uint32_t life = 0;  // `to`'s lives when it arrived
  };
  // The heap orders small keys; envelopes stay put in a slab (moving a message variant through
  // heap sifts cost more than delivering it, profiled at 10,000 sites).
  struct slot_key {
    millis at;
    std::uint64_t seq;
    std::uint32_t slot;
    std::uint32_t to;  // the envelope's, for prefetching its site
    bool operator>(const slot_key& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  std::uint32_t slot_of(const std::string& site_id);  // creates it when new
  void enqueue(const std::string& from_site, site_index from, std::uint32_t to, const std::string& to_site, message m);
  std::optional<std::uint32_t> find_slot(const std::string& site_id) const;
  // `e` arrived at its site now: queues it there; when its handling ends (whole ms, rounded up).
  millis queue_at_site(envelope& e);
  void tick_all();

  manual_clock& time_;
  sim_network_settings settings_;
  std::mt19937_64 rng_;
  std::deque<site_slot> slots_;  // a deque: a handler sending to a new site keeps its slot in place
  hash_slots slot_by_id_;  // site id -> index in slots_, probed in place (a node-based map was 4 % of a run)
  // The one membership view every attached engine uses (null: none yet, or they differ), and
  // its site indexes' slots (no_slot: not attached).
  const membership* shared_view_ = nullptr;
  bool views_differ_ = false;
  static constexpr std::uint32_t no_slot = ~std::uint32_t{0};
  std::vector<std::uint32_t> slot_by_view_index_;
  // Engines' slots in site id order: ticks run in that order (deterministic); sorted on next use.
  std::vector<std::pair<std::string, std::uint32_t>> tick_order_;
  bool tick_order_sorted_ = true;
  std::function<bool(const std::string&, const std::string&)> blocked_;
  std::vector<envelope> slab_;
  std::vector<std::uint32_t> free_slots_;
  std::priority_queue<slot_key, std::vector<slot_key>, std::greater<>> queue_;
  std::uint64_t seq_ = 0, sent_ = 0, delivered_ = 0, ticks_run_ = 0;
  std::vector<std::uint64_t> sent_by_type_ = std::vector<std::uint64_t>(std::variant_size_v<message>);
  millis next_tick_{0};
  bool processing_ = false;  // settings_.processing.any()
};

}  // namespace dm2::dht
