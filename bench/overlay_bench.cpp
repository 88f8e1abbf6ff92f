// The overlay as deployed: 16 dm2d processes on loopback (real libtorrent sessions, RocksDB,
// node-to-node HTTPS with mutual TLS), driven through their HTTPS API like a site's ingest and a
// clinician's query would. Measures:
//   replicas  time from POST /v1/records at the owner until the k placement holders serve it;
//   fanout    time from POST /v1/queries until the query is done (every site answered), over
//             16 x records_per_site records;
//   hedged    time from SIGKILL of 5 of 16 nodes to the end of a query started at once (the
//             querier still asks the dead: their replica holders answer after the hedge delay);
//   restore   time from SIGKILL of 5 of 16 nodes until every record has its k live replicas again;
//             with it repair_messages and repair_rounds (the survivors' replicator messages and
//             rounds over that time, their GET /v1/overlay counters), repair_records (records short
//             of a live holder at the kill), first_detected and detected (until one survivor, and
//             every survivor, counts fewer live peers / only the 10 others);
//   fanout_empty  the same with a filter no record matches (modality CT): no site answers a hit,
//             so fanout - fanout_empty is what the querier spends on hits (top_k = 20 per site);
//   write, poll, query_post, query_get  the parts of those that are the bench's own HTTPS calls:
//             POST /v1/records, the GET /v1/records that found a replica, POST /v1/queries, the GET
//             /v1/queries/{id} that found it done;
//   verify    one Ed25519 verification of a hit-sized message in this process (ms): what a tree
//             fan-out's parent pays per signed hit. dm2-sim's processing model is fitted from
//             these (bench/fit_latency.py --processing);
//   rtt       before any record: node-to-node round trips as the nodes pay them (a replication
//             message, POST /v1/overlay/message, on a kept-alive mutual-TLS connection with a
//             site's certificate) for every ordered pair, to <samples stem>-rtt.csv (from,to,ms):
//             dm2-sim's latency model is fitted from them (docs/simulator.md, "Calibration").
// Exits 1 when a correctness check fails (a query incomplete at its deadline, a record lost
// although at most k sites died, replicas not restored within 300 s), never on timings.
// Writes one CSV row per sample (measure,value: milliseconds, or a count) to the file given; bench/overlay_bench.sh
// prints the table against the in-process baseline (dht_bench) and plots the distributions.
// Usage: overlay_bench <work dir> <samples.csv> [records per site, default 1000] [--quick]
// The sites listen on 127.<octet>.X.1..16, octet $OVERLAY_BENCH_OCTET (default 79).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/roster.hpp"
#include "dm2/crypto/signature.hpp"
#include "dm2/dht/message_codec.hpp"
#include "dm2/dht/node_id.hpp"
#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/placement.hpp"
#include "dm2/node/https_client.hpp"
#include "process_consortium.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
constexpr std::size_t k = 5;  // the node's default (docs/overlay.md, "Durability")

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

struct bench {
  std::unique_ptr<dm2::test::process_consortium> sites;
  std::map<std::string, int> site_number;
  std::vector<dm2::dht::site_info> roster_sites;
  std::ofstream samples;
  std::mt19937 random{7};
  std::vector<std::string> failures;  // correctness checks that failed

  std::string new_lfn() {
    std::string raw(16, '\0');
    for (auto& c : raw) c = static_cast<char>(random());
    return dm2::crypto::to_hex(raw);
  }

  std::set<int> holders(const std::string& lfn, int owner, const std::set<int>& live) {
    std::vector<dm2::dht::site_info> up;
    for (const auto& s : roster_sites)
      if (live.count(site_number.at(s.site_id))) up.push_back(s);
    dm2::dht::placement_index placement(up);
    std::set<int> out;
    for (const auto& id : placement.closest_ids(dm2::dht::key_of(lfn), k, sites->site_id(owner)))
      out.insert(site_number.at(id));
    return out;
  }

  bool post_record(int owner, const std::string& lfn) {
    nlohmann::json body = {{"lfn", lfn}, {"attributes", {{"modality", "MR"}, {"body_part", "HEART"}}}};
    auto r = sites->request(owner, "POST", "/v1/records", body.dump(), owner);
    return r && r->status == 201;
  }

  bool serves(int site, const std::string& lfn) {
    auto r = sites->request(site, "GET", "/v1/records?lfn=" + lfn);
    return r && r->status == 200;
  }

  void sample(const char* measure, double ms) { samples << measure << "," << ms << "\n" << std::flush; }

  // Every ordered pair's round trips of an empty pull request (the receiver decodes and delivers
  // it, and sends nothing back), after one request that opens the connection.
  void measure_rtt(const std::string& path, int per_pair) {
    std::ofstream out(path);
    out << "from,to,ms\n";
    const std::string body = dm2::dht::encode_message(dm2::dht::pull_request{});
    for (int from : sites->all_sites())
      for (int to : sites->all_sites()) {
        if (from == to) continue;
        dm2::node::https_connection link(sites->target(to), sites->client_tls(from));
        for (int i = 0; i <= per_pair; ++i) {
          auto start = clock_type::now();
          auto r = link.request("POST", "/v1/overlay/message", body);
          if (!r || r->status != 202) {
            failures.push_back("POST /v1/overlay/message from site " + std::to_string(from) + " to " + std::to_string(to) +
                               " failed: " + (r ? std::to_string(r->status) : r.err().message));
            return;
          }
          if (i > 0) out << from << ',' << to << ',' << ms_since(start) << '\n';
        }
      }
  }

  // The sum over `of` of a GET /v1/overlay number (repair_messages, repair_rounds, live_peers);
  // 0 when a site does not answer.
  std::uint64_t overlay_sum(const std::set<int>& of, const char* name) {
    std::uint64_t sum = 0;
    for (int site : of) {
      auto r = sites->request(site, "GET", "/v1/overlay");
      if (!r || r->status != 200) return 0;
      sum += nlohmann::json::parse(r->body)[name].get<std::uint64_t>();
    }
    return sum;
  }

  // New record -> k replicas: one poller thread per holder, each asking until its copy is there.
  void measure_replicas(int count) {
    std::set<int> all;
    for (int s : sites->all_sites()) all.insert(s);
    for (int i = 0; i < count; ++i) {
      int owner = 1 + i % sites->size();
      auto lfn = new_lfn();
      auto expected = holders(lfn, owner, all);
      auto start = clock_type::now();
      if (!post_record(owner, lfn)) {
        std::fprintf(stderr, "overlay_bench: POST /v1/records failed at site %d\n", owner);
        continue;
      }
      sample("write", ms_since(start));
      std::vector<std::thread> pollers;
      std::atomic<bool> timed_out{false};
      std::vector<double> last_poll(expected.size());
      std::size_t slot = 0;
      for (int site : expected)
        pollers.emplace_back([&, site, mine = &last_poll[slot++]] {
          for (;;) {
            auto asked = clock_type::now();
            if (serves(site, lfn)) return void(*mine = ms_since(asked));
            if (ms_since(start) > 10'000) return void(timed_out = true);
          }
        });
      for (auto& p : pollers) p.join();
      if (timed_out) continue;
      sample("replicas", ms_since(start));
      for (double ms : last_poll) sample("poll", ms);
    }
  }

  // Ed25519 verification of a hit as a tree fan-out's parent checks it (query id, LFN, owner,
  // score, a summary of de-identified attributes: ~200 bytes), the mean of 500.
  void measure_verify() {
    const std::string hit(200, 'h');
    auto key = dm2::crypto::generate_private_key(dm2::crypto::key_type::ed25519);
    if (!key) return failures.push_back("cannot make an Ed25519 key");
    auto pub = dm2::crypto::raw_public_key(*key);
    auto signature = dm2::crypto::sign(*key, hit);
    if (!pub || !signature) return failures.push_back("cannot sign with an Ed25519 key");
    constexpr int n = 500;
    auto start = clock_type::now();
    for (int i = 0; i < n; ++i)
      if (!dm2::crypto::verify(*pub, hit, *signature)) return failures.push_back("Ed25519 verification failed");
    sample("verify", ms_since(start) / n);
  }

  void fill(int records_per_site) {
    std::atomic<int> next{0}, failed{0};
    int total = records_per_site * sites->size();
    std::vector<std::thread> writers;
    auto start = clock_type::now();
    for (int t = 0; t < 4; ++t)
      writers.emplace_back([&, t] {
        std::mt19937 own_random(static_cast<unsigned>(t + 100));
        for (int i; (i = next++) < total;) {
          std::string raw(16, '\0');
          for (auto& c : raw) c = static_cast<char>(own_random());
          if (!post_record(1 + i % sites->size(), dm2::crypto::to_hex(raw))) ++failed;
        }
      });
    for (auto& w : writers) w.join();
    std::fprintf(stderr, "overlay_bench: wrote %d records in %.1f s (%d failed)\n", total, ms_since(start) / 1000,
                 failed.load());
  }

  // Runs a query at `home` to its end; its time (ms), or nullopt when it ended at its deadline
  // or could not be run.
  // `sample_calls`: sample the POST's own time and the last GET's (query_post, query_get).
  std::optional<double> run_query(int home, int timeout_ms, bool sample_calls = false,
                                  nlohmann::json filters = nlohmann::json::object()) {
    nlohmann::json query = {{"filters", std::move(filters)}, {"top_k", 20}, {"timeout_ms", timeout_ms}};
    auto start = clock_type::now();
    auto posted = sites->request(home, "POST", "/v1/queries", query.dump(), home);
    if (!posted || posted->status != 202) {
      std::fprintf(stderr, "overlay_bench: POST /v1/queries failed at site %d: %s\n", home,
                   posted ? posted->body.c_str() : posted.err().message.c_str());
      return std::nullopt;
    }
    if (sample_calls) sample("query_post", ms_since(start));
    auto id = nlohmann::json::parse(posted->body)["id"].get<std::string>();
    for (;;) {
      auto asked = clock_type::now();
      auto r = sites->request(home, "GET", "/v1/queries/" + id, {}, home);
      if (!r || r->status != 200) return std::nullopt;
      auto body = nlohmann::json::parse(r->body);
      if (body["done"].get<bool>()) {
        if (body["deadline_passed"].get<bool>()) return std::nullopt;
        if (sample_calls) sample("query_get", ms_since(asked));
        return ms_since(start);
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  // Query fan-out from a rotating home site, every record matching (no filter), then as many
  // matching none (`measure` fanout_empty).
  void measure_fanout(int count) {
    int incomplete = 0;
    for (int i = 0; i < 2 * count; ++i) {
      bool empty = i >= count;
      auto ms = run_query(1 + i % sites->size(), 10000, true,
                          empty ? nlohmann::json{{"modality", "CT"}} : nlohmann::json::object());
      if (ms) sample(empty ? "fanout_empty" : "fanout", *ms);
      else ++incomplete;
    }
    if (incomplete > 0) failures.push_back(std::to_string(incomplete) + " of " + std::to_string(2 * count) + " queries incomplete");
  }

  // Everything each running site holds: lfn -> (owner, sites).
  std::map<std::string, std::pair<int, std::set<int>>> copies() {
    std::map<std::string, std::pair<int, std::set<int>>> out;
    for (int site : sites->running_sites()) {
      std::string after;
      for (;;) {
        auto r = sites->request(site, "GET", "/v1/overlay/records?limit=1000&after=" + after);
        for (int retry = 0; retry < 5 && (!r || r->status != 200); ++retry)
          r = sites->request(site, "GET", "/v1/overlay/records?limit=1000&after=" + after);
        if (!r || r->status != 200) {
          std::fprintf(stderr, "overlay_bench: cannot list site %d's records: %s\n", site,
                       r ? r->body.c_str() : r.err().message.c_str());
          std::exit(1);
        }
        auto page = nlohmann::json::parse(r->body);
        for (const auto& record : page["records"]) {
          auto& entry = out[record["lfn"].get<std::string>()];
          entry.first = site_number.at(record["owner"].get<std::string>());
          entry.second.insert(site);
        }
        if (page["next"].is_null()) break;
        after = page["next"].get<std::string>();
      }
    }
    return out;
  }

  // Waits until the ingest backlog is replicated (every record on its owner and k holders), so
  // that fan-out is measured on a consortium at rest, as queries would usually meet it.
  void settle() {
    std::set<int> all;
    for (int s : sites->all_sites()) all.insert(s);
    auto start = clock_type::now();
    for (;;) {
      std::size_t short_records = 0, total = 0;
      for (const auto& [lfn, entry] : copies()) {
        ++total;
        auto expected = holders(lfn, entry.first, all);
        expected.insert(entry.first);
        for (int site : expected)
          if (!entry.second.count(site)) {
            ++short_records;
            break;
          }
      }
      if (short_records == 0) {
        std::fprintf(stderr, "overlay_bench: %zu records on their owner and k replicas %.1f s after the last write\n",
                     total, ms_since(start) / 1000);
        return;
      }
      if (ms_since(start) > 600'000) {
        std::fprintf(stderr, "overlay_bench: %zu records still short of k replicas after 600 s\n", short_records);
        return;
      }
      std::this_thread::sleep_for(1s);
    }
  }

  void measure_restore() {
    const std::vector<int> killed = {2, 5, 8, 11, 14};
    std::set<int> live;
    for (int site : sites->all_sites())
      if (std::find(killed.begin(), killed.end(), site) == killed.end()) live.insert(site);
    auto before = copies();
    auto messages_before = overlay_sum(live, "repair_messages");
    auto rounds_before = overlay_sum(live, "repair_rounds");
    auto start = clock_type::now();
    for (int site : killed) sites->kill(site);
    // Failure detection, polled beside the rest: every survivor counts only the survivors.
    std::thread detection([&] {
      std::optional<double> first;
      for (;;) {
        auto peers = overlay_sum(live, "live_peers");
        if (!first && peers > 0 && peers < live.size() * 15) first = ms_since(start);
        if (peers == live.size() * (live.size() - 1)) break;
        if (ms_since(start) > 60'000) return;
      }
      sample("first_detected", first.value_or(0));
      sample("detected", ms_since(start));
    });
    // k = 3 survives 3 simultaneous failures, not 5: records whose every copy was on a killed
    // site are lost (counted, not waited for).
    std::size_t lost = 0;
    for (auto it = before.begin(); it != before.end();) {
      bool survived = false;
      for (int site : it->second.second) survived = survived || live.count(site);
      if (survived) {
        ++it;
      } else {
        ++lost;
        it = before.erase(it);
      }
    }
    std::fprintf(stderr, "overlay_bench: killing 5 of 16 lost %zu of %zu records (every copy was on a killed site)\n",
                 lost, lost + before.size());
    std::size_t short_at_kill = 0;
    for (const auto& [lfn, entry] : before)
      for (int site : holders(lfn, entry.first, live))
        if (!entry.second.count(site)) {
          ++short_at_kill;
          break;
        }
    sample("repair_records", static_cast<double>(short_at_kill));
    if (lost > 0 && killed.size() <= k)
      failures.push_back(std::to_string(lost) + " records lost although at most k sites died");
    // A query at once, while every live site still counts the dead as live.
    auto hedged = run_query(1, 5000);
    auto hedged_ms = ms_since(start);
    detection.join();  // before anything else writes a sample
    if (hedged) sample("hedged", hedged_ms);
    else failures.push_back("the query started right after the kill ended at its deadline");
    for (;;) {
      std::size_t short_records = 0;
      auto now = copies();
      for (const auto& [lfn, entry] : before)
        for (int site : holders(lfn, entry.first, live))
          if (!now[lfn].second.count(site)) {
            ++short_records;
            break;
          }
      if (short_records == 0) break;
      if (ms_since(start) > 300'000) {
        std::fprintf(stderr, "overlay_bench: %zu records still short of k live replicas after 300 s\n", short_records);
        failures.push_back("replicas not restored within 300 s");
        return;
      }
      std::this_thread::sleep_for(200ms);
    }
    sample("restore", ms_since(start));
    // The counters only grow, and are not 0 after the fill: otherwise a read failed (overlay_sum's 0).
    auto messages = overlay_sum(live, "repair_messages"), rounds = overlay_sum(live, "repair_rounds");
    if (messages_before > 0 && messages >= messages_before && rounds >= rounds_before) {
      sample("repair_messages", static_cast<double>(messages - messages_before));
      sample("repair_rounds", static_cast<double>(rounds - rounds_before));
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: overlay_bench <work dir> <samples.csv> [records per site] [--quick]\n");
    return 2;
  }
  bool quick = std::string(argv[argc - 1]) == "--quick";
  int records_per_site = argc > 3 && std::string(argv[3]) != "--quick" ? std::stoi(argv[3]) : 1000;
  if (quick) records_per_site = std::min(records_per_site, 100);

  bench b;
  b.samples.open(argv[2]);
  b.samples << "measure,value\n";
  const char* octet = std::getenv("OVERLAY_BENCH_OCTET");
  auto created = dm2::test::process_consortium::create(
      argv[1], {16, octet ? std::atoi(octet) : 79, "[overlay]\nreplicas = " + std::to_string(k) +
                             "\nrepair_period_s = 30\nliveness_timeout_s = 3\n[log]\nlevel = \"warn\"\n"});
  if (!created) {
    std::fprintf(stderr, "overlay_bench: %s\n", created.err().message.c_str());
    return 1;
  }
  b.sites = std::move(*created);
  for (int site : b.sites->all_sites()) b.site_number[b.sites->site_id(site)] = site;
  auto roster = dm2::crypto::verify_roster(*dm2::crypto::read_file(b.sites->roster_file()),
                                           b.sites->consortium_public_key());
  b.roster_sites = dm2::dht::sites_from_roster(*roster, std::time(nullptr));
  if (auto s = b.sites->start_all(); !s) {
    std::fprintf(stderr, "overlay_bench: %s\n", s.err().message.c_str());
    return 1;
  }
  auto converged = dm2::test::eventually(
      [&] {
        for (int site : b.sites->all_sites()) {
          auto r = b.sites->request(site, "GET", "/v1/overlay");
          if (!r || r->status != 200 || nlohmann::json::parse(r->body)["live_peers"] != 15) return false;
        }
        return true;
      },
      60s);
  if (!converged) {
    std::fprintf(stderr, "overlay_bench: the 16 nodes did not all see each other\n");
    return 1;
  }
  std::fprintf(stderr, "overlay_bench: 16 nodes up on %s..16\n", b.sites->address(1).c_str());
  b.sample("records_per_site", records_per_site);  // for dm2-sim's side of the calibration
  std::string rtt_path = argv[2];
  rtt_path = (rtt_path.ends_with(".csv") ? rtt_path.substr(0, rtt_path.size() - 4) : rtt_path) + "-rtt.csv";
  b.measure_rtt(rtt_path, quick ? 5 : 20);
  b.measure_verify();
  b.measure_replicas(quick ? 30 : 200);
  b.fill(records_per_site);
  b.settle();
  b.measure_fanout(quick ? 20 : 100);
  b.measure_restore();
  for (const auto& f : b.failures) std::fprintf(stderr, "overlay_bench: FAILED: %s\n", f.c_str());
  return b.failures.empty() ? 0 : 1;
}
