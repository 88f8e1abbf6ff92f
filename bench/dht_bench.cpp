// dht_bench: 16 real overlays on 127.0.0.60..75 (libtorrent DHT: membership by DHT pings, BEP44
// items over real UDP) with dm2's replicator and query fan-out. Replication and query messages go
// through an in-process transport (the node's mutual-TLS HTTPS transport is not in this path), so
// those figures measure the overlay logic and failure detection, not TLS round trips.
// Prints a Markdown table with the goals. Usage: dht_bench [--quick]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/query_fanout.hpp"
#include "dm2/dht/replicator.hpp"
#include "overlay_cluster.hpp"

namespace {

using namespace dm2::dht;
using steady = std::chrono::steady_clock;

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct queued {
  std::string from, to;
  message m;
};
class queue_transport final : public transport {
 public:
  void send(const std::string& from, const std::string& to, message m) override {
    queue.push_back({from, to, std::move(m)});
  }
  std::deque<queued> queue;
};

class trusting_auth final : public query_authenticator {
 public:
  std::string sign(const std::string& id, const std::string&, std::int64_t) override { return id; }
  bool verify(const std::string&, const query_request& q) override { return q.signature == q.query_id; }
};

struct bench_site {
  testing::overlay_node net;
  std::string id;
  std::unique_ptr<overlay_membership> members;
  memory_replica_store store;
  std::unique_ptr<replicator> engine;
  std::unique_ptr<query_fanout> queries;
  bool alive = true;
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  spdlog::set_level(spdlog::level::err);  // start-up refusals (peers not yet admitted) are expected
  constexpr int n = 16;
  const int records_per_site = quick ? 100 : 1000;
  const int samples = quick ? 30 : 200;
  steady_clock_source clock;
  queue_transport net;
  trusting_auth auth;
  overlay_settings os;
  os.probe_interval = std::chrono::milliseconds(100);
  replication_settings rs;
  rs.repair_period = millis(2000);
  rs.membership_debounce = millis(200);

  std::vector<std::unique_ptr<bench_site>> sites;
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<bench_site>();
    s->net = testing::start_node(60 + i, os);
    if (!s->net.node) {
      std::fprintf(stderr, "dht_bench: cannot start a node on 127.0.0.%d\n", 60 + i);
      return 1;
    }
    s->id = "site-" + std::to_string(i);
    sites.push_back(std::move(s));
  }
  std::vector<testing::overlay_node*> all;
  std::vector<site_info> infos;
  for (auto& s : sites) {
    all.push_back(&s->net);
    infos.push_back({s->id, node_id_of_public_key(s->net.public_key),
                     {s->net.address + ":" + std::to_string(s->net.node->listen_port())}});
  }
  auto matcher = [](const std::string& body) {
    query_plan plan;
    plan.score = [body](const record& r) -> std::optional<query_hit> {
      if (r.payload.compare(0, body.size(), body) != 0) return std::nullopt;
      return query_hit{r.lfn, r.owner, static_cast<double>(r.payload.size()), {}};
    };
    return std::optional<query_plan>(std::move(plan));
  };
  for (auto& s : sites) {
    (void)s->net.node->set_roster(testing::peers_of(all), testing::keys_of(all));
    s->members = std::make_unique<overlay_membership>(*s->net.node, s->id, std::chrono::milliseconds(500));
    s->members->set_sites(infos);
    replicator_collaborators c{&clock, &net, s->members.get(), &s->store, nullptr};
    s->engine = std::make_unique<replicator>(s->id, rs, c);
    s->queries = std::make_unique<query_fanout>(s->id, fanout_settings{}, c, auth, matcher);
  }
  auto by_id = [&](const std::string& id) -> bench_site& {
    return *sites[static_cast<std::size_t>(std::stoi(id.substr(5)))];
  };
  // One thread drives all 16 sites; `repair` = false leaves the replicators' periodic rounds
  // out, so a fan-out is not timed behind 16 sites' repair work (a node runs them apart).
  auto step = [&](bool repair = true) {
    for (auto& s : sites)
      if (s->alive) {
        s->members->refresh();
        if (repair) s->engine->tick();
        s->queries->tick();
      }
    while (!net.queue.empty()) {
      auto q = std::move(net.queue.front());
      net.queue.pop_front();
      auto& to = by_id(q.to);
      if (!to.alive) continue;
      to.engine->on_message(q.from, q.m);
      to.queries->on_message(q.from, q.m);
    }
  };
  auto everyone_sees = [&](std::size_t count) {
    for (auto& s : sites)
      if (s->alive && s->members->live_sites().size() != count) return false;
    return true;
  };
  auto t_join = steady::now();
  if (!testing::eventually([&] { step(); return everyone_sees(n); }, std::chrono::seconds(20))) {
    std::fprintf(stderr, "dht_bench: membership did not converge\n");
    return 1;
  }
  double join_ms = ms_since(t_join);

  std::mt19937 rng(1);
  auto placement_now = [&] {
    std::vector<site_info> live;
    for (auto& s : sites)
      if (s->alive) live.push_back(infos[static_cast<std::size_t>(std::stoi(s->id.substr(5)))]);
    return placement_index(live);
  };

  // 1. New record -> k replicas (in-process transport).
  std::vector<double> replicate_ms;
  {
    auto p = placement_now();
    for (int i = 0; i < samples; ++i) {
      auto& owner = *sites[rng() % n];
      record r{"new-" + std::to_string(i), 1, owner.id, "payload"};
      auto targets = p.closest_ids(key_of(r.lfn), rs.k, r.owner);
      auto t0 = steady::now();
      owner.engine->publish(r);
      for (;;) {
        step();
        bool all_have = true;
        for (const auto& t : targets) all_have = all_have && by_id(t).store.get_record(r.lfn);
        if (all_have) break;
      }
      replicate_ms.push_back(ms_since(t0));
    }
  }

  // 2. BEP44 item stored on >= k DHT nodes (real UDP).
  std::vector<double> put_ms;
  int put_short = 0;
  for (int i = 0; i < samples / 2; ++i) {
    auto& s = *sites[rng() % n];
    auto t0 = steady::now();
    auto stored = s.net.node->put_mutable(s.net.key_pem, "bench-" + std::to_string(i), "locator", 1);
    put_ms.push_back(ms_since(t0));
    if (!stored || *stored < static_cast<int>(rs.k)) ++put_short;
  }

  // 3. Fan-out over 16 x records_per_site records.
  for (auto& s : sites)
    for (int r = 0; r < records_per_site; ++r)
      s->engine->publish(record{s->id + "/" + std::to_string(r), 1, s->id, r % 10 == 0 ? "hit" : "miss"});
  while (!net.queue.empty()) step();
  std::vector<double> fanout_ms;
  std::size_t hits_expected = static_cast<std::size_t>(n * ((records_per_site + 9) / 10));
  std::size_t hits_short = 0;
  for (int i = 0; i < samples / 2; ++i) {
    auto& s = *sites[rng() % n];
    bool done = false;
    std::size_t hits = 0;
    auto t0 = steady::now();
    s.queries->start("q" + std::to_string(i), "hit", millis(5000),
                     [&](const std::vector<query_hit>& h, const query_progress& p) {
                       hits += h.size();
                       done = p.done;
                     });
    while (!done) step(false);
    fanout_ms.push_back(ms_since(t0));
    if (hits != hits_expected) ++hits_short;
  }

  // 4. Kill a third (5 of 16): time until every record has k live replicas again.
  std::vector<record> records;
  for (auto& s : sites) s->store.for_each_record([&](const record& r) { if (r.owner == s->id) records.push_back(r); });
  auto lost_records = [&] {
    std::size_t lost = 0;
    for (const auto& r : records) {
      bool found = false;
      for (auto& s : sites) found = found || (s->alive && s->store.get_record(r.lfn));
      lost += !found;
    }
    return lost;
  };
  // Records with every copy on a killed node cannot come back (owner + k = 4 copies, 5 killed):
  // they are counted as lost, and the restore time covers all the others.
  std::vector<record> recoverable;
  auto under = [&] {
    auto p = placement_now();
    std::size_t bad = 0;
    for (const auto& r : recoverable)
      for (const auto& t : p.closest_ids(key_of(r.lfn), rs.k, r.owner))
        if (!by_id(t).store.get_record(r.lfn)) {
          ++bad;
          break;
        }
    return bad;
  };
  recoverable = records;
  std::size_t under_before_kill = under();
  auto t_kill = steady::now();
  for (int i : {1, 4, 7, 10, 13}) {
    sites[static_cast<std::size_t>(i)]->alive = false;
    sites[static_cast<std::size_t>(i)]->net.node.reset();
  }
  std::size_t lost = lost_records();
  recoverable.clear();
  for (const auto& r : records) {
    bool found = false;
    for (auto& s : sites) found = found || (s->alive && s->store.get_record(r.lfn));
    if (found) recoverable.push_back(r);
  }
  std::size_t under_after_kill = under();
  double detect_ms = 0;
  bool restored = testing::eventually([&] {
    step();
    if (detect_ms == 0 && everyone_sees(n - 5)) detect_ms = ms_since(t_kill);
    if (std::getenv("DHT_BENCH_DEBUG")) {
      static auto last = steady::now();
      if (ms_since(last) > 1000) {
        last = steady::now();
        std::fprintf(stderr, "t=%.0f under=%zu lost=%zu views:", ms_since(t_kill), under(), lost_records());
        for (auto& s : sites) if (s->alive) std::fprintf(stderr, " %zu", s->members->live_sites().size());
        std::fprintf(stderr, " queue=%zu\n", net.queue.size());
      }
    }
    return everyone_sees(n - 5) && under() == 0;
  }, std::chrono::seconds(60));
  double restore_ms = ms_since(t_kill);

  std::printf("dht_bench: 16 nodes on 127.0.0.60-75, k=%zu, %d records/site; membership converged in %.0f ms\n\n",
              rs.k, records_per_site, join_ms);
  std::printf("| measure | p50 | p99 | goal | met |\n|---|---|---|---|---|\n");
  std::printf("| new record -> k replicas (in-process transport) | %.3f ms | %.3f ms | p99 < 1000 ms | %s |\n",
              percentile(replicate_ms, 50), percentile(replicate_ms, 99),
              percentile(replicate_ms, 99) < 1000 ? "yes" : "NO");
  std::printf("| BEP44 put stored on >= k DHT nodes (UDP) | %.2f ms | %.2f ms | p99 < 1000 ms | %s |\n",
              percentile(put_ms, 50), percentile(put_ms, 99),
              percentile(put_ms, 99) < 1000 && put_short == 0 ? "yes" : "NO");
  std::printf("| query fan-out, 16 sites, %d records (in-process, repair paused) | %.2f ms | %.2f ms | p99 < 250 ms | %s |\n",
              n * records_per_site, percentile(fanout_ms, 50), percentile(fanout_ms, 99),
              percentile(fanout_ms, 99) < 250 && hits_short == 0 ? "yes" : "NO");
  std::printf("| restore k replicas after killing 5 of 16 | %.0f ms (detection %.0f ms) | - | - | %s |\n",
              restore_ms, detect_ms, restored ? "restored" : "NOT restored");
  std::printf("\n%zu of %zu records under-replicated before the kill, %zu right after it, %zu lost (all %zu copies"
              " on killed nodes: with 16 nodes, whole key ranges map to one 4-site set);"
              " %d puts short of k; %zu queries short of hits.\n",
              under_before_kill, records.size(), under_after_kill, lost, rs.k + 1, put_short, hits_short);
  return restored && put_short == 0 && hits_short == 0 ? 0 : 1;
}
