// The tree fan-out against one-to-all on real processes (issue 13, item 4): N dm2d processes on
// loopback (libtorrent sessions, RocksDB, node-to-node HTTPS with mutual TLS), each owning a few
// records, the same consortium answering both kinds of query in the same run. The node picks
// the fan-out at the querier from overlay.tree_fanout_min_sites, so three sites query down the
// tree (threshold 2) and three one-to-all (threshold 1,000,000); every site answers both. Queries
// alternate between the two, each polled to its end. Per query, one CSV row:
//   phase      healthy, or killed: 3 random sites (never a querier) SIGKILLed 20 ms after the POST
//              was sent (at once after it, when it took longer), still listed live by every site
//              (liveness timeout 60 s), restarted after the query and waited for (they count
//              every peer live again) before the next one;
//   latency_ms POST /v1/queries until GET /v1/queries/{id} says done (polled every 5 ms);
//   expected, returned  records in the consortium, and those among the hits (top_k holds them all);
//   deadline_passed, answered, covered, missed  the query's own view;
//   querier_* / total_*  query messages and bytes (GET /v1/overlay "query_traffic") the querier
//              sent and received, and every site sent and received, from just before the POST to
//              300 ms after done (the killed sites' counts are lost with them: totals are the
//              survivors').
// Also <samples stem>-rss.csv: each dm2d's resident memory (kB) once the records are in place
// and after the last query. Exits 1 when a query missed a record (the run goes on) or a phase
// cannot run, never on timings; bench/fanout_bench.sh prints the table beside dm2-sim's on the same sizes.
// Usage: fanout_bench <work dir> <samples.csv> <sites> [queries per fan-out and phase, default 20]
//        [--quick]
// --quick: 5 queries per fan-out and phase. The sites listen on 127.<octet>.X.1..N, octet
// $FANOUT_BENCH_OCTET (default 97).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "dm2/crypto/hash.hpp"
#include "process_consortium.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
constexpr int records_per_site = 3;
// A site that started on an empty store lists itself as restoring for 3 repair periods
// (docs/overlay.md, "Restoring sites"), which sends every query into a second pass: the
// queries wait that out, as they would meet a consortium at rest.
constexpr auto repair_period = 15s;
const std::vector<int> tree_queriers = {1, 2, 3}, all_queriers = {4, 5, 6};

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

struct traffic {
  std::uint64_t sent = 0, received = 0, bytes_sent = 0, bytes_received = 0;
  traffic& operator+=(const traffic& o) {
    sent += o.sent, received += o.received, bytes_sent += o.bytes_sent, bytes_received += o.bytes_received;
    return *this;
  }
  traffic operator-(const traffic& o) const {
    return {sent - o.sent, received - o.received, bytes_sent - o.bytes_sent, bytes_received - o.bytes_received};
  }
};

struct bench {
  std::unique_ptr<dm2::test::process_consortium> sites;
  std::set<std::string> lfns;  // every record in the consortium
  std::ofstream samples;
  std::mt19937 random{13};
  std::vector<std::string> failures;    // the harness could not go on
  std::vector<std::string> incomplete;  // queries that missed a record (the run goes on)

  // GET /v1/overlay at every site of `of`, four at a time; nullopt where a site did not answer.
  std::vector<std::optional<nlohmann::json>> overlay_views(const std::vector<int>& of) {
    std::vector<std::optional<nlohmann::json>> out(of.size());
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
      readers.emplace_back([&] {
        for (std::size_t i; (i = next++) < of.size();) {
          auto r = sites->request(of[i], "GET", "/v1/overlay", {}, of[i]);
          if (r && r->status == 200) out[i] = nlohmann::json::parse(r->body);
        }
      });
    for (auto& r : readers) r.join();
    return out;
  }

  // Each site's query traffic counters (site -> counters), for the sites that answered.
  std::map<int, traffic> counters(const std::vector<int>& of) {
    std::map<int, traffic> out;
    auto views = overlay_views(of);
    for (std::size_t i = 0; i < of.size(); ++i)
      if (views[i]) {
        const auto& t = (*views[i])["query_traffic"];
        out[of[i]] = {t["messages_sent"].get<std::uint64_t>(), t["messages_received"].get<std::uint64_t>(),
                      t["bytes_sent"].get<std::uint64_t>(), t["bytes_received"].get<std::uint64_t>()};
      }
    return out;
  }

  // Until every site of `of` counts all N - 1 others live (its view has settled).
  bool all_live(const std::vector<int>& of, std::chrono::seconds limit) {
    return dm2::test::eventually(
        [&] {
          for (const auto& v : overlay_views(of))
            if (!v || (*v)["live_peers"] != sites->size() - 1) return false;
          return true;
        },
        limit);
  }

  // Starts the sites 16 at a time (all at once, 128 of them starve each other of the 2 cores).
  bool start(const std::vector<int>& which) {
    for (std::size_t i = 0; i < which.size(); i += 16) {
      std::vector<int> batch(which.begin() + static_cast<long>(i),
                             which.begin() + static_cast<long>(std::min(which.size(), i + 16)));
      if (auto s = sites->start(batch, 120s); !s) {
        std::fprintf(stderr, "fanout_bench: %s\n", s.err().message.c_str());
        return false;
      }
    }
    return true;
  }

  void write_rss(const std::string& path, const char* when) {
    std::ofstream out(path, std::ios::app);
    for (int site : sites->running_sites()) {
      std::ifstream status("/proc/" + std::to_string(sites->pid(site)) + "/status");
      for (std::string line; std::getline(status, line);)
        if (line.starts_with("VmRSS:")) out << when << ',' << site << ',' << std::stol(line.substr(6)) << '\n';
    }
  }

  bool fill() {
    std::atomic<int> next{0}, failed{0};
    int total = records_per_site * sites->size();
    std::vector<std::string> written(static_cast<std::size_t>(total));
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
      writers.emplace_back([&, t] {
        std::mt19937 own_random(static_cast<unsigned>(t + 100));
        for (int i; (i = next++) < total;) {
          std::string raw(16, '\0');
          for (auto& c : raw) c = static_cast<char>(own_random());
          auto lfn = dm2::crypto::to_hex(raw);
          int owner = 1 + i % sites->size();
          nlohmann::json body = {{"lfn", lfn}, {"attributes", {{"modality", "MR"}, {"body_part", "HEART"}}}};
          auto r = sites->request(owner, "POST", "/v1/records", body.dump(), owner);
          if (r && r->status == 201) written[static_cast<std::size_t>(i)] = lfn;
          else ++failed;
        }
      });
    for (auto& w : writers) w.join();
    lfns.insert(written.begin(), written.end());
    if (failed > 0) std::fprintf(stderr, "fanout_bench: %d of %d records not written\n", failed.load(), total);
    return failed == 0;
  }

  // Until every record is on its owner and its k holders (the sum of records_held), so that a
  // killed site's records are with their holders before any query.
  bool settle() {
    auto views = overlay_views(sites->all_sites());
    if (!views[0]) return false;
    auto k = (*views[0])["replicas"].get<std::size_t>();
    std::size_t want = lfns.size() * (k + 1), held = 0;
    bool ok = dm2::test::eventually(
        [&] {
          held = 0;
          for (const auto& v : overlay_views(sites->all_sites())) held += v ? (*v)["records_held"].get<std::size_t>() : 0;
          return held == want;
        },
        600s);
    std::fprintf(stderr, "fanout_bench: %zu of %zu copies held (k = %zu)\n", held, want, k);
    return ok;
  }

  // One query from `querier`, killing `victims` 20 ms after its POST; one CSV row.
  void query(const char* fanout, int querier, const std::vector<int>& victims) {
    std::vector<int> counted;  // the sites whose counters survive the query
    for (int s : sites->all_sites())
      if (std::find(victims.begin(), victims.end(), s) == victims.end()) counted.push_back(s);
    auto before = counters(counted);
    nlohmann::json ask = {{"filters", nlohmann::json::object()},
                          {"top_k", std::min<std::size_t>(1000, lfns.size())},
                          {"timeout_ms", 10000}};
    auto start = clock_type::now();
    auto posted = sites->request(querier, "POST", "/v1/queries", ask.dump(), querier);
    if (!posted || posted->status != 202)
      return failures.push_back("POST /v1/queries failed at site " + std::to_string(querier));
    auto id = nlohmann::json::parse(posted->body)["id"].get<std::string>();
    if (!victims.empty()) {
      std::this_thread::sleep_until(start + 20ms);
      for (int v : victims) sites->kill(v);
    }
    nlohmann::json view;
    for (;;) {
      auto r = sites->request(querier, "GET", "/v1/queries/" + id, {}, querier);
      if (!r || r->status != 200) return failures.push_back("GET /v1/queries/{id} failed at site " + std::to_string(querier));
      view = nlohmann::json::parse(r->body);
      if (view["done"].get<bool>()) break;
      std::this_thread::sleep_for(5ms);
    }
    double latency = ms_since(start);
    std::this_thread::sleep_for(300ms);  // late answers and re-sends land in this query's counts
    auto after = counters(counted);
    traffic total, mine = after[querier] - before[querier];
    for (int s : counted)
      if (before.count(s) && after.count(s)) total += after[s] - before[s];
    std::size_t returned = 0;
    for (const auto& h : view["hits"]) returned += lfns.count(h["lfn"].get<std::string>());
    std::map<std::string, int> states;
    for (const auto& s : view["sites"]) ++states[s["state"].get<std::string>()];
    samples << sites->size() << ',' << fanout << ',' << (victims.empty() ? "healthy" : "killed") << ',' << latency << ','
            << lfns.size() << ',' << returned << ',' << view["deadline_passed"].get<bool>() << ',' << states["answered"]
            << ',' << states["covered"] << ',' << states["missed"] << ',' << mine.sent << ',' << mine.received << ','
            << mine.bytes_sent << ',' << mine.bytes_received << ',' << total.sent << ',' << total.received << ','
            << total.bytes_sent << ',' << total.bytes_received << '\n'
            << std::flush;
    if (returned < lfns.size())
      incomplete.push_back(std::string(fanout) + " query with " + std::to_string(victims.size()) + " killed returned " +
                         std::to_string(returned) + " of " + std::to_string(lfns.size()) + " records");
  }

  // `count` queries of each fan-out, alternating which goes first; with `kill` > 0, that many
  // random non-querier sites die in each, and come back before the next.
  void run_phase(int count, int kill) {
    std::vector<int> candidates;
    for (int s = 7; s <= sites->size(); ++s) candidates.push_back(s);
    for (int i = 0; i < 2 * count && failures.empty(); ++i) {
      bool tree = (i % 2 == 0) == (i / 2 % 2 == 0);
      std::vector<int> victims;
      std::sample(candidates.begin(), candidates.end(), std::back_inserter(victims), kill, random);
      const auto& queriers = tree ? tree_queriers : all_queriers;
      query(tree ? "tree" : "all", queriers[static_cast<std::size_t>(i / 2) % queriers.size()], victims);
      if (victims.empty()) continue;
      if (!start(victims) || !all_live(victims, 120s)) return failures.push_back("killed sites did not come back");
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: fanout_bench <work dir> <samples.csv> <sites> [queries] [--quick]\n");
    return 2;
  }
  bool quick = std::string(argv[argc - 1]) == "--quick";
  int n = std::atoi(argv[3]);
  int count = quick ? 5 : (argc > 4 && std::string(argv[4]) != "--quick" ? std::atoi(argv[4]) : 20);
  if (n < 8 || n > 250) {
    std::fprintf(stderr, "fanout_bench: sites must be 8..250 (one /24 of loopback addresses)\n");
    return 2;
  }
  bench b;
  b.samples.open(argv[2]);
  b.samples << "sites,fanout,phase,latency_ms,expected,returned,deadline_passed,answered,covered,missed,"
               "querier_sent,querier_received,querier_bytes_sent,querier_bytes_received,"
               "total_sent,total_received,total_bytes_sent,total_bytes_received\n";
  std::string rss = argv[2];
  rss = (rss.ends_with(".csv") ? rss.substr(0, rss.size() - 4) : rss) + "-rss.csv";
  std::ofstream(rss) << "when,site,rss_kb\n";

  // The querier's threshold is its own config ([overlay] is the last shared table, so a site's
  // first line lands in it); a liveness timeout longer than any query keeps killed sites listed live.
  dm2::test::consortium_options options{
      n, 97, "[overlay]\nliveness_timeout_s = 60\nrepair_period_s = " + std::to_string(repair_period.count()) + "\n"};
  if (const char* octet = std::getenv("FANOUT_BENCH_OCTET")) options.address_octet = std::atoi(octet);
  // The queriers log at info (event=query_tree, event=tree_second_pass), the others warnings only.
  for (int s = 1; s <= n; ++s) options.site_toml[s] = "[log]\nlevel = \"warn\"\n";
  for (int s : tree_queriers) options.site_toml[s] = "tree_fanout_min_sites = 2\n[log]\nlevel = \"info\"\n";
  for (int s : all_queriers) options.site_toml[s] = "tree_fanout_min_sites = 1000000\n[log]\nlevel = \"info\"\n";
  auto created = dm2::test::process_consortium::create(argv[1], options);
  if (!created) {
    std::fprintf(stderr, "fanout_bench: %s\n", created.err().message.c_str());
    return 1;
  }
  b.sites = std::move(*created);
  auto started = clock_type::now();
  if (!b.start(b.sites->all_sites())) return 1;
  auto all_started = clock_type::now();
  std::fprintf(stderr, "fanout_bench: %d dm2d started in %.1f s\n", n, ms_since(started) / 1000);
  if (!b.all_live(b.sites->all_sites(), 300s)) {
    std::fprintf(stderr, "fanout_bench: the %d nodes did not all see each other\n", n);
    return 1;
  }
  std::fprintf(stderr, "fanout_bench: %d nodes see each other after %.1f s\n", n, ms_since(started) / 1000);
  if (!b.fill() || !b.settle()) return 1;
  b.write_rss(rss, "settled");
  std::this_thread::sleep_until(all_started + 3 * repair_period + 5s);
  b.run_phase(count, 0);
  b.run_phase(count, 3);
  b.write_rss(rss, "end");
  for (const auto& f : b.incomplete) std::fprintf(stderr, "fanout_bench: INCOMPLETE: %s\n", f.c_str());
  for (const auto& f : b.failures) std::fprintf(stderr, "fanout_bench: FAILED: %s\n", f.c_str());
  return b.failures.empty() && b.incomplete.empty() ? 0 : 1;
}
