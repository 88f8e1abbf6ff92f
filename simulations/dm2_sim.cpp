// dm2-sim: the overlay's placement and repair at 10..10,000 sites over a simulated network,
// with a simulated clock, latency, message loss, site failures and recoveries. Deterministic
// for a given --seed. Writes a CSV time series and, with --plot, a PNG (python3 + matplotlib).
//
// The sites run dm2::dht::replicator (the node's own code) over dm2::dht::sim_network.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dm2/dht/owned_keys.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/sim/sim_network.hpp"
#include "progress.hpp"
#include "scenario.hpp"

namespace {

using namespace dm2::dht;

struct options {
  int sites = 100;
  int records_per_site = 10;
  int keys_per_site = 2;
  std::size_t k = 3;
  std::uint32_t n = 3;
  std::uint32_t t = 2;
  double repair_period_s = 30;
  double duration_s = 600;
  double sample_s = 5;
  double failure_rate = 0.5;   // failures per site per hour
  double mean_downtime_s = 300;
  double wipe_probability = 0.1;
  double latency_ms = 20;
  double jitter_ms = 20;
  double loss = 0.0;
  std::uint64_t seed = 1;
  std::string csv = "dm2-sim.csv";
  std::string plot;
  std::string scenario;
  bool share_repair = true;
  int burst = 0;  // sites killed at once at the first sample boundary, never back (--burst)
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
  std::string id;
  memory_replica_store store;
  std::unique_ptr<owned_key_source> shares;
  sim_keyring keyring;
  std::unique_ptr<replicator> engine;
  bool alive = true;
  millis back_at{0};
};

std::string site_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "s%05d", i);
  return buf;
}

int run(const options& o) {
  spdlog::set_level(spdlog::level::warn);  // a share repair's info lines, thousands of times
  manual_clock time;
  static_membership members;
  sim_network_settings ns;
  ns.latency = millis(static_cast<long>(o.latency_ms));
  ns.jitter = millis(static_cast<long>(o.jitter_ms));
  ns.loss_rate = o.loss;
  ns.seed = o.seed;
  ns.tick_interval = millis(std::max<long>(100, static_cast<long>(o.repair_period_s * 1000 / 20)));
  sim_network net(time, ns);
  replication_settings rs;
  rs.k = o.k;
  rs.repair_period = millis(static_cast<long>(o.repair_period_s * 1000));
  rs.share_inventory_wait = millis(static_cast<long>(std::max(4 * (o.latency_ms + o.jitter_ms), 100.0)));
  rs.share_repair_timeout = std::max(rs.share_repair_timeout, 10 * rs.share_inventory_wait);

  std::vector<std::unique_ptr<site>> sites;
  std::unordered_map<std::string, site*> by_id;
  for (int i = 0; i < o.sites; ++i) {
    auto s = std::make_unique<site>();
    s->id = site_name(i);
    members.add(site_info{s->id, node_id_of_public_key(s->id), {}});
    by_id[s->id] = s.get();
    sites.push_back(std::move(s));
  }
  std::vector<record> records;
  std::vector<std::pair<std::string, std::string>> keys;  // owner, key id
  for (auto& s : sites) {
    s->shares = sim_shares(s->id);
    s->engine = std::make_unique<replicator>(
        s->id, rs,
        replicator_collaborators{&time, &net, &members, &s->store, s->shares.get(),
                                 o.share_repair ? &s->keyring : nullptr});
    net.attach(s->engine.get());
    for (int r = 0; r < o.records_per_site; ++r) {
      record rec{s->id + "/r" + std::to_string(r), 1, s->id, "x"};
      s->engine->publish(rec);
      records.push_back(rec);
    }
    for (int k = 0; k < o.keys_per_site; ++k) {
      auto key_id = s->id + "/k" + std::to_string(k);
      s->shares->add(*make_owned_key(key_id, key_id + std::string(16, '#'), o.t, o.n));
      s->engine->own_key(key_id, o.n);
      keys.emplace_back(s->id, key_id);
    }
  }

  std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ull);
  std::ofstream csv(o.csv);
  if (!csv) {
    std::cerr << "dm2-sim: cannot write " << o.csv << "\n";
    return 2;
  }
  csv << "time_s,sites_alive,records_under_replicated,keys_under_shared,keys_unreadable,messages,"
         "shares_repaired\n";

  std::unordered_map<std::string, std::size_t> key_slot;  // key id -> index in keys
  for (std::size_t i = 0; i < keys.size(); ++i) key_slot[keys[i].second] = i;
  struct key_seen {
    std::vector<std::uint32_t> indices;
    std::size_t holders = 0;
    const site* last = nullptr;
  };
  std::vector<key_seen> seen(keys.size());

  auto sample = [&](millis now) {
    // Placement targets as the owner's replicator computes them (its memoized placements: a
    // fresh placement per record and sample would dominate the run at 10,000 sites).
    std::size_t under = 0;
    for (const auto& r : records)
      for (const auto& t : by_id[r.owner]->engine->closest(r.lfn, o.k, r.owner))
        if (!by_id[t]->store.get_summary(r.lfn)) {
          ++under;
          break;
        }
    // Shares: live holders per key, by index.
    for (auto& k : seen) k = key_seen{};
    for (auto& s : sites) {
      if (!s->alive) continue;
      s->store.for_each_share([&](const key_share& sh) {
        auto slot = key_slot.find(sh.key_id);
        if (slot == key_slot.end()) return;
        auto& k = seen[slot->second];
        if (std::find(k.indices.begin(), k.indices.end(), sh.index) == k.indices.end())
          k.indices.push_back(sh.index);
        if (k.last != s.get()) {
          k.last = s.get();
          ++k.holders;
        }
      });
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
        << unreadable << ',' << net.messages_sent() << ',' << repaired << '\n';
  };

  const millis step(static_cast<long>(o.sample_s * 1000));
  const millis end(static_cast<long>(o.duration_s * 1000));
  const double p_fail = o.failure_rate / 3600.0 * o.sample_s;
  std::exponential_distribution<double> downtime(1.0 / std::max(o.mean_downtime_s, 1.0));
  std::uniform_real_distribution<double> uniform(0, 1);
  dm2::sim::progress_bar progress(o.duration_s);
  // --burst: `o.burst` distinct random sites die together at the first boundary after the start.
  std::vector<std::size_t> order(sites.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (millis now{0}; now <= end; now += step) {
    net.run_until(now);
    progress.update(static_cast<double>(now.count()) / 1000);
    if (now == step)
      for (int i = 0; i < std::min(o.burst, o.sites); ++i) {
        auto& s = *sites[order[static_cast<std::size_t>(i)]];
        s.alive = false;
        s.back_at = end + step;  // not within the run
        net.set_alive(s.id, false);
        members.set_live(s.id, false);
      }
    // Sample first: each row shows what `--sample` seconds of repair left of the failures
    // injected at the previous boundary.
    sample(now);
    // Failures and recoveries at sample boundaries.
    for (auto& s : sites) {
      if (s->alive && uniform(rng) < p_fail) {
        s->alive = false;
        s->back_at = now + millis(static_cast<long>(downtime(rng) * 1000));
        net.set_alive(s->id, false);
        members.set_live(s->id, false);
      } else if (!s->alive && now >= s->back_at) {
        if (uniform(rng) < o.wipe_probability) s->store = memory_replica_store{};
        s->alive = true;
        net.set_alive(s->id, true);
        members.set_live(s->id, true);
      }
    }
  }
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
  (void)kept;
  return 0;
}

int plot(const options& o) {
  std::string script = R"PY(
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r["time_s"]) for r in rows]
fig, (a, b) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
a.plot(t, [int(r["sites_alive"]) for r in rows], label="sites alive", color="tab:green")
a.set_ylabel("sites alive")
a2 = a.twinx()
msgs = [int(r["messages"]) for r in rows]
rate = [0] + [(msgs[i] - msgs[i-1]) / max(t[i] - t[i-1], 1e-9) for i in range(1, len(msgs))]
a2.plot(t, rate, label="messages/s", color="tab:gray", alpha=0.6)
a2.set_ylabel("messages / s")
a.set_title(sys.argv[3])
a.legend(loc="upper left"); a2.legend(loc="upper right")
b.plot(t, [int(r["records_under_replicated"]) for r in rows], label="records under-replicated")
b.plot(t, [int(r["keys_under_shared"]) for r in rows], label="keys with < n live shares")
b.plot(t, [int(r["keys_unreadable"]) for r in rows], label="keys with < t live shares", color="tab:red")
b.set_yscale("symlog", linthresh=10)
b.set_xlabel("simulated time (s)"); b.set_ylabel("count (log above 10)"); b.legend(loc="upper right")
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)
)PY";
  std::string script_path = o.plot + ".py";
  std::ofstream(script_path) << script;
  char title[256];
  std::snprintf(title, sizeof title, "dm2-sim: %d sites, k=%zu, %u-of-%u shares, repair %.0fs, %.2f failures/site/h, seed %llu",
                o.sites, o.k, o.t, o.n, o.repair_period_s, o.failure_rate,
                static_cast<unsigned long long>(o.seed));
  std::string cmd = "/usr/bin/python3 '" + script_path + "' '" + o.csv + "' '" + o.plot + "' '" + title + "'";
  int rc = std::system(cmd.c_str());
  std::remove(script_path.c_str());
  if (rc != 0) {
    std::cerr << "dm2-sim: plotting failed (needs python3-matplotlib)\n";
    return 3;
  }
  std::cerr << "dm2-sim: wrote " << o.plot << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{
      "dm2-sim: simulate dm2's overlay (replica placement, anti-entropy repair, key shares)\n"
      "with the node's own replication code over a simulated network. Deterministic per seed.\n"
      "Output CSV columns: time_s, sites_alive, records_under_replicated (a live placement\n"
      "target lacks the record), keys_under_shared (< n live shares on distinct sites),\n"
      "keys_unreadable (< t live shares), messages (cumulative), shares_repaired (cumulative,\n"
      "re-created by holders while the key's owner was down)."};
  app.add_option("--sites", o.sites, "number of sites (2..1000000)")->check(CLI::Range(2, 1000000))->capture_default_str();
  app.add_option("--records-per-site", o.records_per_site, "index records each site owns")->capture_default_str();
  app.add_option("--keys-per-site", o.keys_per_site, "keys each site owns (split into n shares)")->capture_default_str();
  app.add_option("-k,--replicas", o.k, "replicas per record besides the owner's copy")->capture_default_str();
  app.add_option("-n,--shares", o.n, "shares per key, on n distinct sites")->capture_default_str();
  app.add_option("-t,--threshold", o.t, "shares needed to rebuild (or repair) a key")->check(CLI::Range(2u, 255u))->capture_default_str();
  app.add_flag("!--no-share-repair", o.share_repair, "holders do not repair shares while the owner is down");
  app.add_option("--repair-period", o.repair_period_s, "anti-entropy period, seconds")->capture_default_str();
  app.add_option("--failure-rate", o.failure_rate, "failures per site per hour")->capture_default_str();
  app.add_option("--mean-downtime", o.mean_downtime_s, "mean time a failed site stays down, seconds (exponential)")->capture_default_str();
  app.add_option("--wipe-probability", o.wipe_probability, "probability a recovering site lost its disk")->capture_default_str();
  app.add_option("--duration", o.duration_s, "simulated seconds")->capture_default_str();
  app.add_option("--sample", o.sample_s, "sampling and failure-injection step, seconds")->capture_default_str();
  app.add_option("--latency", o.latency_ms, "one-way latency, ms")->capture_default_str();
  app.add_option("--jitter", o.jitter_ms, "extra uniform latency 0..jitter, ms")->capture_default_str();
  app.add_option("--loss", o.loss, "message loss probability")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--burst", o.burst, "sites that die together at the first sample boundary and stay down; prints the records lost")
      ->capture_default_str();
  app.add_option("--csv", o.csv, "CSV output path")->capture_default_str();
  app.add_option("--plot", o.plot, "PNG output path (python3 + matplotlib)");
  app.add_option("--scenario", o.scenario, "TOML scenario file (simulations/scenarios/); command-line options win");
  CLI11_PARSE(app, argc, argv);
  if (!o.scenario.empty()) {
    auto given = [&app](const char* flag) { return [&app, flag] { return app.count(flag) > 0; }; };
    using opt = dm2::sim::scenario_option;
    auto num = [](auto& field) { return [&field](double v) { field = static_cast<std::decay_t<decltype(field)>>(v); }; };
    std::vector<opt> table{
        {"consortium.sites", true, num(o.sites), given("--sites")},
        {"consortium.records_per_site", true, num(o.records_per_site), given("--records-per-site")},
        {"consortium.keys_per_site", true, num(o.keys_per_site), given("--keys-per-site")},
        {"replication.k", true, num(o.k), given("--replicas")},
        {"replication.shares", true, num(o.n), given("--shares")},
        {"replication.threshold", true, num(o.t), given("--threshold")},
        {"replication.repair_period_s", false, num(o.repair_period_s), given("--repair-period")},
        {"churn.failure_rate_per_hour", false, num(o.failure_rate), given("--failure-rate")},
        {"churn.mean_downtime_s", false, num(o.mean_downtime_s), given("--mean-downtime")},
        {"churn.wipe_probability", false, num(o.wipe_probability), given("--wipe-probability")},
        {"network.latency_ms", false, num(o.latency_ms), given("--latency")},
        {"network.jitter_ms", false, num(o.jitter_ms), given("--jitter")},
        {"network.loss", false, num(o.loss), given("--loss")},
        {"run.duration_s", false, num(o.duration_s), given("--duration")},
        {"run.sample_s", false, num(o.sample_s), given("--sample")},
        {"run.seed", true, num(o.seed), given("--seed")},
    };
    if (auto err = dm2::sim::load_scenario(o.scenario, table); !err.empty()) {
      std::cerr << "dm2-sim: " << err << "\n";
      return 2;
    }
  }
  if (o.sites < 2 || o.sites > 1'000'000 || o.k < 1 || o.t < 2 || o.duration_s <= 0 || o.sample_s <= 0 ||
      o.loss < 0 || o.loss > 1 || o.failure_rate < 0 || o.records_per_site < 0 || o.keys_per_site < 0) {
    std::cerr << "dm2-sim: out-of-range option (sites 2..1000000, k >= 1, threshold >= 2, duration and sample > 0, loss 0..1)\n";
    return 2;
  }
  if (o.t > o.n || o.n > 255) {
    std::cerr << "dm2-sim: need --threshold <= --shares <= 255\n";
    return 2;
  }
  if (int rc = run(o); rc != 0) return rc;
  return o.plot.empty() ? 0 : plot(o);
}
