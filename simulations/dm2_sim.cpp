// dm2-sim: the overlay's placement and repair at 10..10,000 sites over a simulated network,
// with a simulated clock, latency, message loss, site failures and recoveries. Deterministic
// for a given --seed. Writes a CSV time series and, with --plot, a PNG (python3 + matplotlib).
//
// The sites run dm2::dht::replicator (the node's own code) over dm2::dht::sim_network.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <iostream>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "calibration.hpp"
#include "dm2/dht/owned_keys.hpp"
#include "dm2/dht/placement.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/sim/sim_network.hpp"
#include "latency_model.hpp"
#include "plots.hpp"
#include "progress.hpp"
#include "query_load.hpp"
#include "scenario.hpp"
#include "tracked_store.hpp"

namespace {

using namespace dm2::dht;

struct options {
  int sites = 100;
  int records_per_site = 10;
  int keys_per_site = 2;
  int regions = 1;  // site i is in region i mod regions
  std::size_t k = 3;
  std::uint32_t n = 3;
  std::uint32_t t = 2;
  double repair_period_s = 30;
  // How often each replicator ticks; 0: a 20th of the repair period, at least 100 ms (the node
  // ticks every 250 ms: the calibration scenario says so; larger runs save the CPU).
  double tick_ms = 0;
  double duration_s = 600;
  double sample_s = 5;
  double failure_rate = 0.5;   // failures per site per hour
  double mean_downtime_s = 300;
  double wipe_probability = 0.1;
  // How long the live sites' membership keeps a failed site listed as live (the overlay notices a
  // death by missed pings): queries still ask it meanwhile, and hedge around it.
  double detection_delay_s = 0;
  // Plus uniform(0, spread) per failure: the real overlay's sites notice a death at different
  // moments (bench/overlay_bench measures the first and the last), hence more membership changes.
  double detection_spread_s = 0;
  // Correlated failures: one region down at a time (outage_region >= 0), and/or at a rate.
  int outage_region = -1;
  double outage_at_s = 0, outage_downtime_s = 300;
  double outage_rate = 0;  // region outages per hour, consortium-wide (region drawn uniformly)
  double outage_mean_downtime_s = 600;
  // A partition: two groups (one region and the rest, or the first `fraction` of sites and the
  // rest) cannot reach each other from partition_at_s until partition_heal_s (< 0: never).
  double partition_at_s = -1, partition_heal_s = -1;
  int partition_region = -1;
  double partition_fraction = 0.5;
  double latency_ms = 20;
  double jitter_ms = 20;
  double loss = 0.0;
  double intra_region_rtt_ms = 0, inter_region_rtt_ms = 0, rtt_spread = 0;
  std::string latency_matrix;
  processing_costs processing;  // per-site service times, µs (docs/simulator.md, "Processing")
  double write_rate = 0;  // new records per second, consortium-wide, from random live sites
  double query_rate = 0;  // queries per second, consortium-wide, from random live sites
  double query_timeout_s = 5;
  std::string query_fanout = "all";  // all | tree | both (docs/simulator.md)
  std::uint64_t seed = 1;
  std::string csv = "dm2-sim.csv";
  std::string plot;
  std::string scenario;
  bool share_repair = true;
  int burst = 0;  // sites killed at once, never back (--burst)
  double burst_at_s = -1;  // at the first sample boundary from then on; -1: the first after the start
  std::string calibration;  // the calibration's rows (calibration.hpp), when set
};

// The product's share source (owned_keys.hpp: real Shamir shares of a 16-byte secret per key,
// any index re-created from the kept seed) but not sealed: the simulator measures placement and
// repair, not secrecy, and X25519 per share would dominate the run time at 10,000 sites.
std::unique_ptr<owned_key_source> sim_shares(const std::string& owner) {
  return std::make_unique<owned_key_source>(
      owner, [](const std::string&, const std::string&, std::string_view raw) -> dm2::result<std::string> {
        return std::string(raw);
      });
}

// The identity keyring that goes with sim_shares' unsealed shares.
class sim_keyring final : public share_keyring {
 public:
  dm2::result<std::string> open(const key_share& s) override { return s.sealed; }
  dm2::result<std::string> seal_for_self(const std::string&, std::string_view raw) override {
    return std::string(raw);
  }
};

struct site {
  site(std::string site_id, int i, dm2::sim::copy_map& copies)
      : id(std::move(site_id)), index(i), store(static_cast<dm2::sim::site_number>(i), copies) {}
  std::string id;
  int index = 0;
  dm2::sim::tracked_store store;
  std::unique_ptr<owned_key_source> shares;
  sim_keyring keyring;
  std::unique_ptr<replicator> engine;
  bool alive = true;
  bool churn_down = false;  // failed on its own, back at back_at
  int outages = 0;          // region outages it is in
  std::uint64_t downs = 0;  // times it went down: a delayed detection applies to the latest only
  millis back_at{0};
};

std::string site_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "s%05d", i);
  return buf;
}

// Timed events between sample boundaries (outages, partitions, writes, queries), in time order
// and, at one instant, in the order scheduled.
class event_queue {
 public:
  void at(millis when, std::function<void()> fire) { q_.push({when, seq_++, std::move(fire)}); }
  // Runs the network and the events due up to `until` (events at `until` included).
  void run_until(sim_network& net, millis until) {
    while (!q_.empty() && q_.top().when <= until) {
      auto e = q_.top();
      q_.pop();
      net.run_until(e.when);
      e.fire();
    }
    net.run_until(until);
  }

 private:
  struct event {
    millis when;
    std::uint64_t seq;
    std::function<void()> fire;
    bool operator>(const event& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  std::priority_queue<event, std::vector<event>, std::greater<>> q_;
  std::uint64_t seq_ = 0;
};

millis ms_of(double seconds) { return millis(std::llround(seconds * 1000)); }

// Derived output paths: "<stem>-queries.csv" beside the CSV, "<stem>-query-cdf.png" beside the PNG.
std::string stem_of(const std::string& path, const char* ext) {
  auto n = std::string(ext).size();
  return path.size() > n && path.ends_with(ext) ? path.substr(0, path.size() - n) : path;
}

int run(const options& o) {
  spdlog::set_level(spdlog::level::warn);  // a share repair's info lines, thousands of times
  manual_clock time;
  static_membership members;
  dm2::sim::latency_model latency;
  if (auto err = latency.load({o.sites, o.regions, o.latency_ms, o.intra_region_rtt_ms, o.inter_region_rtt_ms,
                               o.rtt_spread, o.latency_matrix, o.seed});
      !err.empty()) {
    std::cerr << "dm2-sim: network.latency_matrix: " << err << "\n";
    return 2;
  }
  std::unordered_map<std::string, int> index_of;
  sim_network_settings ns;
  ns.latency = millis(static_cast<long>(o.latency_ms));
  ns.jitter = millis(static_cast<long>(o.jitter_ms));
  ns.loss_rate = o.loss;
  ns.processing = o.processing;
  ns.seed = o.seed;
  ns.tick_interval = o.tick_ms > 0 ? millis(std::lround(o.tick_ms))
                                   : millis(std::max<long>(100, static_cast<long>(o.repair_period_s * 1000 / 20)));
  if (latency.per_pair())
    ns.pair_latency = [&](const std::string& from, const std::string& to) {
      return latency.one_way(index_of.at(from), index_of.at(to));
    };
  sim_network net(time, ns);
  replication_settings rs;
  rs.k = o.k;
  rs.repair_period = millis(static_cast<long>(o.repair_period_s * 1000));
  rs.share_inventory_wait = millis(static_cast<long>(std::max(4 * (o.latency_ms + o.jitter_ms), 100.0)));
  rs.share_repair_timeout = std::max(rs.share_repair_timeout, 10 * rs.share_inventory_wait);
  // Every site starts at 0 s right after pushing its records: first rounds spread over half a
  // sample step (and period) digest once those pushes landed, and the first sample after the
  // start sees them all done (failures strike at sample boundaries). Less than a tick spreads
  // nothing but the rounds' phase (calibration-16: a 0.2 s sample step), so none then.
  const auto first_spread = std::min(rs.repair_period, ms_of(o.sample_s)) / 2;
  rs.first_round_spread = first_spread >= ns.tick_interval ? first_spread : millis(0);
  std::unique_ptr<dm2::sim::query_load> queries;
  if (o.query_rate > 0)
    queries = std::make_unique<dm2::sim::query_load>(time, net, members, ms_of(o.query_timeout_s), o.k,
                                                     *dm2::sim::fanout_mode_of(o.query_fanout));

  std::vector<std::unique_ptr<site>> sites;
  std::vector<site_info> infos;  // by site index
  dm2::sim::copy_map copies;  // which sites hold each record
  for (int i = 0; i < o.sites; ++i) {
    auto s = std::make_unique<site>(site_name(i), i, copies);
    index_of[s->id] = i;
    infos.push_back(site_info{s->id, node_id_of_public_key(s->id), {}});
    members.add(infos.back());
    sites.push_back(std::move(s));
  }
  std::vector<record> records;
  std::vector<site*> owner_of;  // records[i]'s owner
  std::vector<std::pair<std::string, std::string>> keys;  // owner, key id
  // Every site sees the one membership view: one placement memo serves them all (each failure
  // batch is checked once, not once per site).
  auto placements = shared_closest_cache();
  for (auto& s : sites) {
    s->shares = sim_shares(s->id);
    s->engine = std::make_unique<replicator>(
        s->id, rs,
        replicator_collaborators{&time, &net, &members, &s->store, s->shares.get(),
                                 o.share_repair ? &s->keyring : nullptr, placements});
    net.attach(s->engine.get());
    if (queries) queries->attach(s->id, s->store);
    for (int r = 0; r < o.records_per_site; ++r) {
      record rec{s->id + "/r" + std::to_string(r), 1, s->id, "x"};
      s->engine->publish(rec);
      records.push_back(rec);
      owner_of.push_back(s.get());
    }
    for (int k = 0; k < o.keys_per_site; ++k) {
      auto key_id = s->id + "/k" + std::to_string(k);
      s->shares->add(*make_owned_key(key_id, key_id + std::string(16, '#'), o.t, o.n));
      s->engine->own_key(key_id, o.n);
      keys.emplace_back(s->id, key_id);
    }
  }

  // The calibration (calibration.hpp) judges placement as the real bench does: the k closest
  // live sites, whatever the membership believes yet.
  std::unique_ptr<dm2::sim::calibration> cal;
  auto live_placement = [&] {
    std::vector<site_info> up;
    for (auto& s : sites)
      if (s->alive) up.push_back(infos[static_cast<std::size_t>(s->index)]);
    return placement_index(std::move(up));
  };
  // Records with a live copy that one of their k closest live sites lacks.
  auto short_of_live = [&] {
    auto placement = live_placement();
    std::size_t n = 0;
    for (const auto& r : records) {
      const auto* held = copies.holders(r.lfn);
      auto up = [&](dm2::sim::site_number h) { return sites[h]->alive; };
      if (!held || std::none_of(held->begin(), held->end(), up)) continue;  // lost: every copy was on a dead site
      for (const auto& t : placement.closest_ids(key_of(r.lfn), o.k, r.owner))
        if (!copies.holds(r.lfn, static_cast<dm2::sim::site_number>(index_of.at(t)))) {
          ++n;
          break;
        }
    }
    return n;
  };
  auto live_work = [&] {
    dm2::sim::repair_work w;
    for (auto& s : sites)
      if (s->alive) {
        w.messages += s->engine->counters().messages_sent;
        w.rounds += s->engine->counters().rounds;
      }
    return w;
  };
  if (!o.calibration.empty()) {
    cal = std::make_unique<dm2::sim::calibration>();
    copies.on_add = [&](const std::string& lfn, dm2::sim::site_number site) { cal->copied(lfn, sites[site]->id, time.now()); };
  }

  std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ull);
  // Separate streams for scheduled events and load: a scenario without them draws exactly what
  // it drew before they existed.
  std::mt19937_64 event_rng(o.seed ^ 0x2545f4914f6cdd1dull), load_rng(o.seed ^ 0x94d049bb133111ebull);
  std::mt19937_64 detect_rng(o.seed ^ 0xbf58476d1ce4e5b9ull);
  std::ofstream csv(o.csv);
  if (!csv) {
    std::cerr << "dm2-sim: cannot write " << o.csv << "\n";
    return 2;
  }
  csv << "time_s,sites_alive,records_under_replicated,keys_under_shared,keys_unreadable,messages,"
         "shares_repaired,queries_done,queries_incomplete\n";

  std::unordered_map<std::string, std::size_t> key_slot;  // key id -> index in keys
  for (std::size_t i = 0; i < keys.size(); ++i) key_slot[keys[i].second] = i;
  struct key_seen {
    std::vector<std::uint32_t> indices;
    std::size_t holders = 0;
    const site* last = nullptr;
  };
  std::vector<key_seen> seen(keys.size());
  // Each site's shares as (key slot, index), re-read only when its store's shares changed: the
  // sampler walked every live site's shares and hashed every key id at every sample.
  struct shares_held {
    std::uint64_t generation = 0;
    std::vector<std::pair<std::size_t, std::uint32_t>> shares;
  };
  std::vector<shares_held> shares_of(sites.size());
  // A replicator's site index -> site number (the view hands them out in its own order).
  std::vector<dm2::sim::site_number> number_of(sites.size());
  for (const auto& s : sites) {
    auto i = members.index_of(s->id);
    if (!i || *i >= number_of.size()) {
      std::cerr << "dm2-sim: the view lists " << s->id << " out of range\n";
      return 2;
    }
    number_of[*i] = static_cast<dm2::sim::site_number>(s->index);
  }

  std::vector<const dm2::sim::holder_list*> held_of;  // records[i]'s copy list
  std::vector<std::uint32_t> placement_hint;         // records[i]'s slot in its owner's memo
  auto sample = [&](millis now) {
    // Placement targets as the owner's replicator computes them (its memoized placements: a
    // fresh placement per record and sample would dominate the run at 10,000 sites).
    std::size_t under = 0;
    while (held_of.size() < records.size()) held_of.push_back(&copies.holders_slot(records[held_of.size()].lfn));
    placement_hint.resize(records.size(), ~std::uint32_t{0});
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      const auto& held = *held_of[i];
      auto& owner = *owner_of[i]->engine;
      for (auto t : owner.closest(r.lfn, o.k, owner.self_index(), placement_hint[i]))
        if (std::find(held.begin(), held.end(), number_of[t]) == held.end()) {
          ++under;
          break;
        }
    }
    // Shares: live holders per key, by index.
    for (auto& k : seen) {  // kept allocated: 20,000 lists freed and refilled each sample
      k.indices.clear();
      k.holders = 0;
      k.last = nullptr;
    }
    for (auto& s : sites) {
      if (!s->alive) continue;
      auto& held = shares_of[static_cast<std::size_t>(s->index)];
      if (auto g = s->store.share_generation(); g == 0 || g != held.generation) {
        held = shares_held{g, {}};
        s->store.for_each_share([&](const key_share& sh) {
          if (auto slot = key_slot.find(sh.key_id); slot != key_slot.end()) held.shares.emplace_back(slot->second, sh.index);
        });
      }
      for (const auto& [slot, index] : held.shares) {
        auto& k = seen[slot];
        if (std::find(k.indices.begin(), k.indices.end(), index) == k.indices.end()) k.indices.push_back(index);
        if (k.last != s.get()) {
          k.last = s.get();
          ++k.holders;
        }
      }
    }
    std::size_t under_shared = 0, unreadable = 0;
    for (const auto& k : seen) {
      if (k.indices.size() < o.n || k.holders < o.n) ++under_shared;
      if (k.indices.size() < o.t) ++unreadable;
    }
    std::size_t alive = 0;
    std::uint64_t repaired = 0;
    for (auto& s : sites) {
      alive += s->alive;
      repaired += s->engine->counters().shares_repaired;
    }
    csv << now.count() / 1000.0 << ',' << alive << ',' << under << ',' << under_shared << ','
        << unreadable << ',' << net.messages_sent() << ',' << repaired << ','
        << (queries ? queries->results().size() : 0) << ',' << (queries ? queries->incomplete() : 0) << '\n';
  };

  event_queue events;
  // A site is up when neither its own failure nor a region outage holds it down. The others see
  // a failure after the detection delay, a recovery at once.
  auto refresh = [&](site& s) {
    bool up = !s.churn_down && s.outages == 0;
    if (up == s.alive) return;
    s.alive = up;
    net.set_alive(s.id, up);
    // Coming back is a process start: a new incarnation, which the others see with its
    // liveness even when they never saw it down (the delay below).
    if (up) members.restart(s.id);
    if (up || o.detection_delay_s <= 0) {
      members.set_live(s.id, up);
    } else {
      double spread =
          o.detection_spread_s > 0 ? std::uniform_real_distribution<double>(0, o.detection_spread_s)(detect_rng) : 0;
      events.at(time.now() + ms_of(o.detection_delay_s + spread), [&members, &s, down = ++s.downs] {
        if (!s.alive && s.downs == down) members.set_live(s.id, false);
      });
    }
  };
  auto region_outage = [&](millis at, int region, millis downtime) {
    auto shift = [&, region](int by) {
      std::size_t count = 0;
      for (auto& s : sites)
        if (latency.region_of(s->index) == region) {
          s->outages += by;
          refresh(*s);
          ++count;
        }
      return count;
    };
    auto down = [=] {
      auto count = shift(1);
      std::cerr << "dm2-sim: " << at.count() / 1000.0 << " s: region " << region << " down (" << count
                << " sites) for " << downtime.count() / 1000.0 << " s\n";
    };
    return std::pair<std::function<void()>, std::function<void()>>{down, [shift] { shift(-1); }};
  };

  const millis step = ms_of(o.sample_s);
  const millis end = ms_of(o.duration_s);
  if (o.outage_region >= 0) {
    auto [down, up] = region_outage(ms_of(o.outage_at_s), o.outage_region, ms_of(o.outage_downtime_s));
    events.at(ms_of(o.outage_at_s), down);
    events.at(ms_of(o.outage_at_s + o.outage_downtime_s), up);
  }
  if (o.outage_rate > 0) {
    std::exponential_distribution<double> gap(o.outage_rate / 3600), downtime(1 / o.outage_mean_downtime_s);
    std::uniform_int_distribution<int> region(0, std::max(o.regions, 1) - 1);
    for (double t = gap(event_rng); t <= o.duration_s; t += gap(event_rng)) {
      auto d = downtime(event_rng);
      auto [down, up] = region_outage(ms_of(t), region(event_rng), ms_of(d));
      events.at(ms_of(t), down);
      events.at(ms_of(t + d), up);
    }
  }
  if (o.partition_at_s >= 0) {
    // Side of a site: in the partitioned region, or among the first `fraction` of sites.
    auto side = [&, cut = static_cast<int>(o.partition_fraction * o.sites)](const std::string& id) {
      int i = index_of.at(id);
      return o.partition_region >= 0 ? latency.region_of(i) == o.partition_region : i < cut;
    };
    events.at(ms_of(o.partition_at_s), [&, side] {
      std::cerr << "dm2-sim: " << o.partition_at_s << " s: partition starts\n";
      net.set_partition([side](const std::string& from, const std::string& to) { return side(from) != side(to); });
    });
    if (o.partition_heal_s >= 0)
      events.at(ms_of(o.partition_heal_s), [&] {
        std::cerr << "dm2-sim: " << o.partition_heal_s << " s: partition heals\n";
        net.set_partition({});
      });
  }
  // A random live site (deterministic per seed), or null when none is.
  auto random_live = [&]() -> site* {
    std::uniform_int_distribution<std::size_t> pick(0, sites.size() - 1);
    auto from = pick(load_rng);
    for (std::size_t i = 0; i < sites.size(); ++i)
      if (auto* s = sites[(from + i) % sites.size()].get(); s->alive) return s;
    return nullptr;
  };
  // Poisson arrivals at `rate` per second, each running `fire`.
  auto arrivals = [&](double rate, std::function<void()> fire) {
    auto next = std::make_shared<std::function<void()>>();
    *next = [&, rate, fire, weak = std::weak_ptr<std::function<void()>>(next)] {
      fire();
      auto at = time.now() + ms_of(std::exponential_distribution<double>(rate)(load_rng));
      if (at <= end)
        if (auto self = weak.lock()) events.at(at, *self);
    };
    events.at(ms_of(std::exponential_distribution<double>(rate)(load_rng)), *next);
    return next;  // the caller keeps it alive
  };
  std::vector<std::shared_ptr<std::function<void()>>> load;
  std::uint64_t writes = 0;
  if (o.write_rate > 0)
    load.push_back(arrivals(o.write_rate, [&] {
      if (auto* s = random_live()) {
        record rec{s->id + "/w" + std::to_string(writes++), 1, s->id, "x"};
        if (cal) cal->wrote(rec.lfn, live_placement().closest_ids(key_of(rec.lfn), o.k, s->id), time.now());
        s->engine->publish(rec);
        records.push_back(rec);
        owner_of.push_back(s);
      }
    }));
  if (queries) {
    load.push_back(arrivals(o.query_rate, [&] {
      auto* s = random_live();
      if (!s) return;
      auto tag = std::uniform_int_distribution<int>(0, dm2::sim::query_tags - 1)(load_rng);
      // Expected: every record of the tag that a live site holds now.
      std::unordered_set<std::string> expected;
      for (auto& holder : sites)
        if (holder->alive)
          holder->store.for_each_summary([&](const record_summary& r) {
            if (dm2::sim::tag_of(r.lfn) == tag) expected.insert(r.lfn);
          });
      queries->start(s->id, tag, std::move(expected));
    }));
    // The node ticks its fan-out every 250 ms (overlay_service.cpp).
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [&, weak = std::weak_ptr<std::function<void()>>(tick)] {
      queries->tick();
      if (auto self = weak.lock(); self && time.now() + millis(250) <= end + ms_of(o.query_timeout_s))
        events.at(time.now() + millis(250), *self);
    };
    events.at(millis(250), *tick);
    load.push_back(tick);
  }

  std::exponential_distribution<double> downtime(1.0 / std::max(o.mean_downtime_s, 1.0));
  std::uniform_real_distribution<double> uniform(0, 1);
  const double p_fail = o.failure_rate / 3600.0 * o.sample_s;
  dm2::sim::progress_bar progress(o.duration_s);
  // --burst: `o.burst` distinct random sites die together at the first boundary from
  // --burst-at on (the first after the start by default).
  const millis burst_at = o.burst_at_s >= 0 ? ms_of(o.burst_at_s) : step;
  bool burst_done = o.burst <= 0;
  std::vector<std::size_t> order(sites.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  // CPU seconds spent by the end of the first 5 simulated minutes (initial pushes, every pair's
  // first digest) and in all:
  // bench/sim_bench.sh projects an hour from a shorter run with them.
  double warm_up_cpu_s = -1;
  // And by the start of the last 5 (runs of 10 minutes or more): bench/sim_bench.sh --quick
  // projects the hour from that steady rate (minutes 6..10 ran a third below the hour's rate:
  // sites down grow to their steady share over the first quarter hour).
  double last_start_cpu_s = -1;
  auto cpu_s = [] { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; };
  for (millis now{0}; now <= end; now += step) {
    events.run_until(net, now);
    if (warm_up_cpu_s < 0 && now >= millis(300'000)) warm_up_cpu_s = cpu_s();
    if (last_start_cpu_s < 0 && end >= millis(600'000) && now >= end - millis(300'000)) last_start_cpu_s = cpu_s();
    progress.update(static_cast<double>(now.count()) / 1000);
    if (cal && (!cal->at_rest() || cal->restoring())) cal->sampled(now, short_of_live(), live_work());
    if (!burst_done && now >= burst_at) {
      burst_done = true;
      for (int i = 0; i < std::min(o.burst, o.sites); ++i) {
        auto& s = *sites[order[static_cast<std::size_t>(i)]];
        s.churn_down = true;
        s.back_at = end + step;  // not within the run
        refresh(s);
      }
      if (cal) cal->killed(now, short_of_live(), live_work());
    }
    // Sample first: each row shows what `--sample` seconds of repair left of the failures
    // injected at the previous boundary.
    sample(now);
    // Failures and recoveries at sample boundaries.
    for (auto& s : sites) {
      if (s->alive && uniform(rng) < p_fail) {
        s->churn_down = true;
        s->back_at = now + millis(static_cast<long>(downtime(rng) * 1000));
        refresh(*s);
      } else if (s->churn_down && now >= s->back_at) {
        if (uniform(rng) < o.wipe_probability) {
          s->store.wipe();
          if (queries) queries->restoring(s->id, now + dm2::dht::restoring_rounds * rs.repair_period);
        }
        s->churn_down = false;
        refresh(*s);
      }
    }
  }
  // Queries still running get their deadline.
  if (queries) events.run_until(net, end + ms_of(o.query_timeout_s) + millis(250));
  progress.finish();
  std::cerr << "dm2-sim: " << o.sites << " sites, " << records.size() << " records, " << keys.size()
            << " keys, " << net.messages_sent() << " messages (";
  const char* sep = "";
  for (std::size_t i = 0; i < net.sent_by_type().size(); ++i)
    if (auto n = net.sent_by_type()[i]) {
      std::cerr << sep << message_name(i) << ' ' << n;
      sep = ", ";
    }
  std::cerr << "); wrote " << o.csv << "\n";
  auto cpu = cpu_s();
  if (last_start_cpu_s >= 0)
    std::fprintf(stderr, "dm2-sim: cpu %.1f s, first 300 simulated s %.1f s, last 300 simulated s %.1f s\n", cpu,
                 warm_up_cpu_s, cpu - last_start_cpu_s);
  else
    std::fprintf(stderr, "dm2-sim: cpu %.1f s, first 300 simulated s %.1f s\n", cpu, warm_up_cpu_s);
  if (queries) {
    auto base = stem_of(o.csv, ".csv");
    if (!queries->write_results(base + "-queries.csv") || !queries->write_cdf(base + "-query-cdf.csv")) {
      std::cerr << "dm2-sim: cannot write " << base << "-queries.csv\n";
      return 2;
    }
    std::cerr << "dm2-sim: " << queries->summary() << "; wrote " << base << "-queries.csv, " << base
              << "-query-cdf.csv\n";
  }
  if (cal) {
    if (!cal->write(o.calibration, queries ? queries->results() : std::vector<dm2::sim::query_result>{})) {
      std::cerr << "dm2-sim: cannot write " << o.calibration << "\n";
      return 2;
    }
    std::cerr << "dm2-sim: wrote the calibration's measures to " << o.calibration << "\n";
  }
  if (o.burst > 0) {
    // Lost: no live site holds a copy (the owner's included) at the end of the run.
    std::unordered_set<std::string> held;
    for (auto& s : sites)
      if (s->alive) s->store.for_each_summary([&](const record_summary& r) { held.insert(r.lfn); });
    std::size_t lost = 0;
    for (const auto& r : records) lost += !held.count(r.lfn);
    std::printf("burst: %d of %d sites down at once, k=%zu: %zu of %zu records lost (%.4f%%)\n",
                std::min(o.burst, o.sites), o.sites, o.k, lost, records.size(),
                100.0 * static_cast<double>(lost) / static_cast<double>(std::max<std::size_t>(records.size(), 1)));
  }
  // The process ends here: freeing every site's maps one by one took a quarter of a 10,000-site
  // run. Kept reachable, so leak checkers stay quiet.
  static auto* kept = new std::vector<std::unique_ptr<site>>(std::move(sites));
  static auto* kept_queries = queries.release();
  (void)kept;
  (void)kept_queries;
  return 0;
}

int plot(const options& o) {
  char title[256];
  std::snprintf(title, sizeof title, "dm2-sim: %d sites, k=%zu, %u-of-%u shares, repair %.0fs, %.2f failures/site/h, seed %llu",
                o.sites, o.k, o.t, o.n, o.repair_period_s, o.failure_rate,
                static_cast<unsigned long long>(o.seed));
  if (int rc = dm2::sim::plot_time_series(o.csv, o.plot, title); rc != 0 || o.query_rate <= 0) return rc;
  std::snprintf(title, sizeof title, "dm2-sim queries: %d sites, %.2f failures/site/h, timeout %.0f s, seed %llu",
                o.sites, o.failure_rate, o.query_timeout_s, static_cast<unsigned long long>(o.seed));
  return dm2::sim::plot_query_cdf(stem_of(o.csv, ".csv") + "-queries.csv", stem_of(o.plot, ".png") + "-query-cdf.png",
                                  title);
}

// Checks what neither CLI11 nor the scenario's per-key ranges can: values that depend on each
// other. Returns the error naming the key (and flag), or an empty string.
std::string cross_check(const options& o) {
  if (!dm2::sim::fanout_mode_of(o.query_fanout)) return "load.query_fanout (--query-fanout) must be all, tree or both";
  if (o.t > o.n) return "replication.threshold (-t) must not exceed replication.shares (-n)";
  if (o.regions > o.sites) return "consortium.regions (--regions) must not exceed consortium.sites";
  if (o.outage_region >= o.regions)
    return "outage.region (--outage-region) must be below consortium.regions (" + std::to_string(o.regions) + ")";
  if (o.partition_region >= o.regions)
    return "partition.region (--partition-region) must be below consortium.regions (" + std::to_string(o.regions) + ")";
  if (o.partition_heal_s >= 0 && o.partition_heal_s <= o.partition_at_s)
    return "partition.heal_s (--partition-heal) must come after partition.at_s";
  if (!o.latency_matrix.empty() && (o.intra_region_rtt_ms > 0 || o.inter_region_rtt_ms > 0))
    return "network.latency_matrix and network.*_region_rtt_ms exclude each other";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{
      "dm2-sim: simulate dm2's overlay (replica placement, anti-entropy repair, key shares, query\n"
      "fan-out) with the node's own code over a simulated network. Deterministic per seed.\n"
      "Output CSV columns: time_s, sites_alive, records_under_replicated (a live placement\n"
      "target lacks the record), keys_under_shared (< n live shares on distinct sites),\n"
      "keys_unreadable (< t live shares), messages (cumulative), shares_repaired (cumulative,\n"
      "re-created by holders while the key's owner was down), queries_done, queries_incomplete\n"
      "(cumulative). With a query rate, also <csv stem>-queries.csv (one row per query) and\n"
      "<csv stem>-query-cdf.csv (latency percentiles). docs/simulator.md has the details."};
  auto positive = CLI::PositiveNumber;
  auto fraction = CLI::Range(0.0, 1.0);
  app.add_option("--sites", o.sites, "number of sites (2..1000000)")->check(CLI::Range(2, 1000000))->capture_default_str();
  app.add_option("--records-per-site", o.records_per_site, "index records each site owns")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--keys-per-site", o.keys_per_site, "keys each site owns (split into n shares)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--regions", o.regions, "regions (site i is in region i mod regions)")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("-k,--replicas", o.k, "replicas per record besides the owner's copy")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("-n,--shares", o.n, "shares per key, on n distinct sites")->check(CLI::Range(2u, 255u))->capture_default_str();
  app.add_option("-t,--threshold", o.t, "shares needed to rebuild (or repair) a key")->check(CLI::Range(2u, 255u))->capture_default_str();
  app.add_flag("!--no-share-repair", o.share_repair, "holders do not repair shares while the owner is down");
  app.add_option("--repair-period", o.repair_period_s, "anti-entropy period, seconds")->check(positive)->capture_default_str();
  app.add_option("--tick", o.tick_ms, "replicator tick, ms (0: repair period / 20, at least 100)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--failure-rate", o.failure_rate, "failures per site per hour")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--mean-downtime", o.mean_downtime_s, "mean time a failed site stays down, seconds (exponential)")->check(positive)->capture_default_str();
  app.add_option("--wipe-probability", o.wipe_probability, "probability a recovering site lost its disk")->check(fraction)->capture_default_str();
  app.add_option("--detection-delay", o.detection_delay_s, "seconds before the others see a site as failed")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--detection-spread", o.detection_spread_s, "plus uniform 0..spread seconds per failure")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--outage-region", o.outage_region, "a region that fails at --outage-at for --outage-downtime (-1: none)")->capture_default_str();
  app.add_option("--outage-at", o.outage_at_s, "when the region fails, seconds")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--outage-downtime", o.outage_downtime_s, "how long it stays down, seconds")->check(positive)->capture_default_str();
  app.add_option("--outage-rate", o.outage_rate, "random region outages per hour (a uniform region each)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--outage-mean-downtime", o.outage_mean_downtime_s, "their mean downtime, seconds (exponential)")->check(positive)->capture_default_str();
  app.add_option("--partition-at", o.partition_at_s, "a partition starts, seconds (-1: none)")->capture_default_str();
  app.add_option("--partition-heal", o.partition_heal_s, "it heals, seconds (-1: never)")->capture_default_str();
  app.add_option("--partition-region", o.partition_region, "one side is this region (else the first --partition-fraction of sites)")->capture_default_str();
  app.add_option("--partition-fraction", o.partition_fraction, "share of sites on one side")->check(fraction)->capture_default_str();
  app.add_option("--duration", o.duration_s, "simulated seconds")->check(positive)->capture_default_str();
  app.add_option("--sample", o.sample_s, "sampling and failure-injection step, seconds")->check(positive)->capture_default_str();
  app.add_option("--latency", o.latency_ms, "one-way latency, ms")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--jitter", o.jitter_ms, "extra uniform latency 0..jitter, ms")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--loss", o.loss, "message loss probability")->check(fraction)->capture_default_str();
  app.add_option("--intra-region-rtt", o.intra_region_rtt_ms, "round trip within a region, ms (per-region-pair model)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--inter-region-rtt", o.inter_region_rtt_ms, "mean round trip between regions, ms")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--rtt-spread", o.rtt_spread, "each region pair's round trip: mean x uniform[1-spread, 1+spread]")->check(fraction)->capture_default_str();
  app.add_option("--latency-matrix", o.latency_matrix, "CSV of round-trip times in ms, sites x sites or regions x regions");
  app.add_option("--message-us", o.processing.message_us, "each site's handling of any message it receives, µs (a queue per site)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--store-us", o.processing.store_us, "plus per record or share it stores, µs")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--query-us", o.processing.query_us, "plus per query it answers, µs")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--hit-us", o.processing.hit_us, "plus per hit in an answer it receives, µs")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--verify-us", o.processing.verify_us, "plus per signed (tree) hit it receives, µs")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--write-rate", o.write_rate, "new records per second, consortium-wide")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--query-rate", o.query_rate, "queries per second, consortium-wide (0: none)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--query-timeout", o.query_timeout_s, "query deadline, seconds")->check(positive)->capture_default_str();
  app.add_option("--query-fanout", o.query_fanout, "all (one-to-all), tree, or both (each query runs both ways)")->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--burst", o.burst, "sites that die together at the first sample boundary and stay down; prints the records lost")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--burst-at", o.burst_at_s, "when the burst happens, seconds (-1: the first sample boundary)")->capture_default_str();
  app.add_option("--calibration", o.calibration,
                 "write the measures compared with the real overlay (replicas, fanout, restore, repair_messages, "
                 "repair_records; docs/simulator.md, \"Calibration\") to this CSV");
  app.add_option("--csv", o.csv, "CSV output path")->capture_default_str();
  app.add_option("--plot", o.plot, "PNG output path (python3 + matplotlib); with queries also <stem>-query-cdf.png");
  app.add_option("--scenario", o.scenario, "TOML scenario file (simulations/scenarios/); command-line options win");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!o.scenario.empty()) {
    auto given = [&app](const char* flag) { return [&app, flag] { return app.count(flag) > 0; }; };
    using opt = dm2::sim::scenario_option;
    auto num = [](auto& field) { return [&field](double v) { field = static_cast<std::decay_t<decltype(field)>>(v); }; };
    constexpr double inf = std::numeric_limits<double>::infinity();
    auto ranged = [](std::string path, bool integer, std::function<void(double)> set, std::function<bool()> given_flag,
                     double min, double max) {
      opt entry;
      entry.path = std::move(path);
      entry.integer = integer;
      entry.set = std::move(set);
      entry.given_on_command_line = std::move(given_flag);
      entry.min = min;
      entry.max = max;
      return entry;
    };
    // A matrix path in the file is relative to the file.
    auto scenario_dir = std::filesystem::path(o.scenario).parent_path();
    opt matrix;
    matrix.path = "network.latency_matrix";
    matrix.given_on_command_line = given("--latency-matrix");
    matrix.set_text = [&o, scenario_dir](const std::string& p) {
      o.latency_matrix = std::filesystem::path(p).is_absolute() ? p : (scenario_dir / p).string();
    };
    opt fanout;
    fanout.path = "load.query_fanout";
    fanout.given_on_command_line = given("--query-fanout");
    fanout.set_text = [&o](const std::string& v) { o.query_fanout = v; };
    std::vector<opt> table{
        ranged("consortium.sites", true, num(o.sites), given("--sites"), 2, 1'000'000),
        ranged("consortium.records_per_site", true, num(o.records_per_site), given("--records-per-site"), 0, 1'000'000),
        ranged("consortium.keys_per_site", true, num(o.keys_per_site), given("--keys-per-site"), 0, 1'000'000),
        ranged("consortium.regions", true, num(o.regions), given("--regions"), 1, 1'000'000),
        ranged("replication.k", true, num(o.k), given("--replicas"), 1, 64),
        ranged("replication.shares", true, num(o.n), given("--shares"), 2, 255),
        ranged("replication.threshold", true, num(o.t), given("--threshold"), 2, 255),
        ranged("replication.repair_period_s", false, num(o.repair_period_s), given("--repair-period"), 0.001, inf),
        ranged("replication.tick_ms", false, num(o.tick_ms), given("--tick"), 0, 3'600'000),
        ranged("churn.failure_rate_per_hour", false, num(o.failure_rate), given("--failure-rate"), 0, inf),
        ranged("churn.mean_downtime_s", false, num(o.mean_downtime_s), given("--mean-downtime"), 0.001, inf),
        ranged("churn.wipe_probability", false, num(o.wipe_probability), given("--wipe-probability"), 0, 1),
        ranged("churn.detection_delay_s", false, num(o.detection_delay_s), given("--detection-delay"), 0, 3600),
        ranged("churn.detection_spread_s", false, num(o.detection_spread_s), given("--detection-spread"), 0, 3600),
        ranged("outage.region", true, num(o.outage_region), given("--outage-region"), -1, 1'000'000),
        ranged("outage.at_s", false, num(o.outage_at_s), given("--outage-at"), 0, inf),
        ranged("outage.downtime_s", false, num(o.outage_downtime_s), given("--outage-downtime"), 0.001, inf),
        ranged("outage.rate_per_hour", false, num(o.outage_rate), given("--outage-rate"), 0, inf),
        ranged("outage.mean_downtime_s", false, num(o.outage_mean_downtime_s), given("--outage-mean-downtime"), 0.001, inf),
        ranged("partition.at_s", false, num(o.partition_at_s), given("--partition-at"), -1, inf),
        ranged("partition.heal_s", false, num(o.partition_heal_s), given("--partition-heal"), -1, inf),
        ranged("partition.region", true, num(o.partition_region), given("--partition-region"), -1, 1'000'000),
        ranged("partition.fraction", false, num(o.partition_fraction), given("--partition-fraction"), 0, 1),
        ranged("network.latency_ms", false, num(o.latency_ms), given("--latency"), 0, 3'600'000),
        ranged("network.jitter_ms", false, num(o.jitter_ms), given("--jitter"), 0, 3'600'000),
        ranged("network.loss", false, num(o.loss), given("--loss"), 0, 1),
        ranged("network.intra_region_rtt_ms", false, num(o.intra_region_rtt_ms), given("--intra-region-rtt"), 0, 3'600'000),
        ranged("network.inter_region_rtt_ms", false, num(o.inter_region_rtt_ms), given("--inter-region-rtt"), 0, 3'600'000),
        ranged("network.rtt_spread", false, num(o.rtt_spread), given("--rtt-spread"), 0, 1),
        matrix,
        ranged("processing.message_us", false, num(o.processing.message_us), given("--message-us"), 0, 3.6e9),
        ranged("processing.store_us", false, num(o.processing.store_us), given("--store-us"), 0, 3.6e9),
        ranged("processing.query_us", false, num(o.processing.query_us), given("--query-us"), 0, 3.6e9),
        ranged("processing.hit_us", false, num(o.processing.hit_us), given("--hit-us"), 0, 3.6e9),
        ranged("processing.verify_us", false, num(o.processing.verify_us), given("--verify-us"), 0, 3.6e9),
        fanout,
        ranged("load.write_rate_per_s", false, num(o.write_rate), given("--write-rate"), 0, 1e6),
        ranged("load.query_rate_per_s", false, num(o.query_rate), given("--query-rate"), 0, 1e6),
        ranged("load.query_timeout_s", false, num(o.query_timeout_s), given("--query-timeout"), 0.001, 3600),
        ranged("burst.sites", true, num(o.burst), given("--burst"), 0, 1'000'000),
        ranged("burst.at_s", false, num(o.burst_at_s), given("--burst-at"), -1, inf),
        ranged("run.duration_s", false, num(o.duration_s), given("--duration"), 0.001, inf),
        ranged("run.sample_s", false, num(o.sample_s), given("--sample"), 0.001, inf),
        ranged("run.seed", true, num(o.seed), given("--seed"), 0, 9.007199254740992e15),
    };
    if (auto err = dm2::sim::load_scenario(o.scenario, table); !err.empty()) {
      std::cerr << "dm2-sim: " << err << "\n";
      return 2;
    }
  }
  if (auto err = cross_check(o); !err.empty()) {
    std::cerr << "dm2-sim: " << err << "\n";
    return 2;
  }
  if (int rc = run(o); rc != 0) return rc;
  return o.plot.empty() ? 0 : plot(o);
}
