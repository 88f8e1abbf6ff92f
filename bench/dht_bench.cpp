// dht_bench: 16 real overlays on 127.0.0.60..75 (libtorrent DHT: membership by DHT pings, BEP44
// items over real UDP) with dm2's replicator and query fan-out. Replication and query messages go
// through an in-process transport (the node's mutual-TLS HTTPS transport is not in this path), so
// those figures measure the overlay logic and failure detection, not TLS round trips.
// Prints a Markdown table with the goals, then the correctness checks. Exits 1 when a
// correctness check fails (a query short of hits, a put short of k, replicas not restored), never
// on timings: `dht_bench --quick` is a check CI can run. Usage: dht_bench [--quick]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "overlay_consortium.hpp"

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

const char* yes(bool ok) { return ok ? "yes" : "NO"; }

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  spdlog::set_level(spdlog::level::err);  // start-up refusals (peers not yet admitted) are expected
  constexpr int n = 16;
  const int records_per_site = quick ? 100 : 1000;
  const int samples = quick ? 30 : 200;
  testing::consortium_options o;
  o.sites = n;
  o.first_host = 60;
  // A 100 ms probe cycle over the 15 peers (150 pings/s) and a 500 ms liveness age: failure
  // detection in about half a second, the figures docs/overlay.md gives. (With the default 20
  // pings/s the cycle is 0.75 s and the membership raises the age to 3 cycles.)
  o.overlay.probe_interval = std::chrono::milliseconds(100);
  o.overlay.probe_rate = 150;
  o.liveness = std::chrono::milliseconds(500);
  o.replication.repair_period = millis(2000);
  o.replication.membership_debounce = millis(200);
  o.replication.k = 5;  // the node's default (overlay.replicas; docs/overlay.md, "Durability")
  testing::overlay_consortium c(o);
  if (!c.started()) {
    std::fprintf(stderr, "dht_bench: cannot start 16 nodes on 127.0.0.60-75\n");
    return 1;
  }
  const std::size_t k = c.k();
  auto t_join = steady::now();
  if (!testing::eventually([&] { c.step(); return c.everyone_sees(n); }, std::chrono::seconds(20))) {
    std::fprintf(stderr, "dht_bench: membership did not converge\n");
    return 1;
  }
  double join_ms = ms_since(t_join);
  auto liveness_ms = c.at(0).members->liveness_age().count();
  auto cycle_ms = c.at(0).net.node->probe_cycle().count();

  std::mt19937 rng(1);
  auto placement_now = [&] {
    std::vector<site_info> live;
    for (int i = 0; i < n; ++i)
      if (c.at(i).alive)
        live.push_back({c.at(i).id, node_id_of_public_key(c.at(i).net.public_key), {}});
    return placement_index(live);
  };

  // 1. New record -> k replicas (in-process transport).
  std::vector<double> replicate_ms;
  {
    auto p = placement_now();
    for (int i = 0; i < samples; ++i) {
      auto& owner = c.at(static_cast<int>(rng() % n));
      record r{"new-" + std::to_string(i), 1, owner.id, "payload"};
      auto targets = p.closest_ids(key_of(r.lfn), k, r.owner);
      auto t0 = steady::now();
      owner.engine->publish(r);
      for (;;) {
        c.step();
        bool all_have = true;
        for (const auto& t : targets) all_have = all_have && c.by_id(t).store.get_record(r.lfn);
        if (all_have) break;
      }
      replicate_ms.push_back(ms_since(t0));
    }
  }

  // 2. BEP44 item stored on >= k DHT nodes (real UDP).
  std::vector<double> put_ms;
  int put_short = 0;
  for (int i = 0; i < samples / 2; ++i) {
    auto& s = c.at(static_cast<int>(rng() % n));
    auto t0 = steady::now();
    auto stored = s.net.node->put_mutable(s.net.key_pem, "bench-" + std::to_string(i), "locator", 1);
    put_ms.push_back(ms_since(t0));
    if (!stored || *stored < static_cast<int>(k)) ++put_short;
  }

  // 3. Fan-out over 16 x records_per_site records.
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < records_per_site; ++r)
      c.at(i).engine->publish(record{c.at(i).id + "/" + std::to_string(r), 1, c.at(i).id, r % 10 == 0 ? "hit" : "miss"});
  while (!c.idle()) c.step();
  std::vector<double> fanout_ms;
  std::size_t hits_expected = static_cast<std::size_t>(n * ((records_per_site + 9) / 10));
  std::size_t hits_short = 0, hedged_queries = 0;
  for (int i = 0; i < samples / 2; ++i) {
    auto q = c.query(static_cast<int>(rng() % n), "q" + std::to_string(i), "hit", millis(5000));
    fanout_ms.push_back(q.ms);
    if (q.hits != hits_expected || q.progress.deadline_passed) ++hits_short;
    if (q.progress.hedged > 0) ++hedged_queries;
  }

  // 4. Kill a third (5 of 16) at once; query at once (the querier still asks the dead: hedged);
  // then the time until every record has k live replicas again.
  auto records = c.owned_records();
  std::size_t under_before_kill = c.under_replicated(records);
  auto t_kill = steady::now();
  for (int i : {1, 4, 7, 10, 13}) c.kill(i);
  double kill_ms = ms_since(t_kill);  // closing 5 libtorrent sessions is not instant
  std::size_t lost = c.lost(records);
  std::vector<record> recoverable;
  std::size_t hits_recoverable = 0;
  for (const auto& r : records)
    if (c.lost({r}) == 0) {
      recoverable.push_back(r);
      hits_recoverable += r.payload == "hit";
    }
  std::size_t under_after_kill = c.under_replicated(recoverable);
  auto during = c.query(0, "during", "hit", millis(5000));
  bool during_complete = !during.progress.deadline_passed && during.hits == hits_recoverable;
  double detect_ms = 0;
  bool restored = testing::eventually([&] {
    c.step();
    if (detect_ms == 0 && c.everyone_sees(n - 5)) detect_ms = ms_since(t_kill);
    if (std::getenv("DHT_BENCH_DEBUG")) {
      static auto last = steady::now();
      if (ms_since(last) > 1000) {
        last = steady::now();
        std::fprintf(stderr, "t=%.0f under=%zu lost=%zu views:", ms_since(t_kill), c.under_replicated(recoverable),
                     c.lost(records));
        for (int i = 0; i < n; ++i)
          if (c.at(i).alive) std::fprintf(stderr, " %zu", c.at(i).members->live_sites().size());
        std::fprintf(stderr, "\n");
      }
    }
    return c.everyone_sees(n - 5) && c.under_replicated(recoverable) == 0;
  }, std::chrono::seconds(60));
  double restore_ms = ms_since(t_kill);

  std::printf("dht_bench: 16 nodes on 127.0.0.60-75, k=%zu, %d records/site; probe cycle %lld ms, liveness %lld ms;"
              " membership converged in %.0f ms\n\n",
              k, records_per_site, static_cast<long long>(cycle_ms), static_cast<long long>(liveness_ms), join_ms);
  std::printf("| measure | p50 | p99 | goal | met |\n|---|---|---|---|---|\n");
  std::printf("| new record -> k replicas (in-process transport) | %.3f ms | %.3f ms | p99 < 1000 ms | %s |\n",
              percentile(replicate_ms, 50), percentile(replicate_ms, 99), yes(percentile(replicate_ms, 99) < 1000));
  std::printf("| BEP44 put stored on >= k DHT nodes (UDP) | %.2f ms | %.2f ms | p99 < 1000 ms | %s |\n",
              percentile(put_ms, 50), percentile(put_ms, 99), yes(percentile(put_ms, 99) < 1000));
  std::printf("| query fan-out, 16 sites, %d records (in-process, repair paused) | %.2f ms | %.2f ms | p99 < 250 ms | %s |\n",
              n * records_per_site, percentile(fanout_ms, 50), percentile(fanout_ms, 99),
              yes(percentile(fanout_ms, 99) < 250));
  std::printf("| query right after killing 5 of 16 (hedged) | %.0f ms | - | < 1500 ms | %s |\n", during.ms,
              yes(during.ms < 1500));
  std::printf("| restore k replicas after killing 5 of 16 | %.0f ms (detection %.0f ms) | - | - | %s |\n",
              restore_ms, detect_ms, restored ? "restored" : "NOT restored");

  bool every_query = hits_short == 0;
  bool puts = put_short == 0;
  bool none_lost = lost == 0;  // 5 killed <= k
  std::printf("\n| correctness check | result |\n|---|---|\n");
  std::printf("| every query complete (%d queries, %zu hits each) | %s (%zu short, %zu hedged) |\n", samples / 2,
              hits_expected, yes(every_query), hits_short, hedged_queries);
  std::printf("| BEP44 puts stored on >= k nodes | %s (%d short) |\n", yes(puts), put_short);
  std::printf("| query right after killing 5 of 16 complete | %s (%zu of %zu hits, %zu sites hedged) |\n",
              yes(during_complete), during.hits, hits_recoverable, during.progress.hedged);
  std::printf("| no record lost with 5 <= k killed | %s (%zu of %zu lost) |\n", yes(none_lost), lost, records.size());
  std::printf("| k live replicas restored within 60 s | %s |\n", yes(restored));
  std::printf("\n%zu of %zu records under-replicated before the kill, %zu right after it; closing the 5 sessions"
              " took %.0f ms (included in detection and restore).\n",
              under_before_kill, records.size(), under_after_kill, kill_ms);
  return every_query && puts && during_complete && none_lost && restored ? 0 : 1;
}
