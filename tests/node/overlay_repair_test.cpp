// Issue 5's durability test on real processes: 16 dm2d nodes (real libtorrent sessions, real
// RocksDB, node-to-node HTTPS with mutual TLS) hold 1,000 records; 5 are SIGKILLed; every record
// stays readable, regains k live replicas, and the restarted nodes catch up on what they missed.
// k = 5 here: surviving f simultaneous failures takes k >= f (with k = 3, the records whose owner
// and 3 replicas are all among the 5 killed sites are lost; docs/overlay.md, "Benchmarks").
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/roster.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/dht/node_id.hpp"
#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/placement.hpp"
#include "process_consortium.hpp"
#include "support/temp_dir.hpp"

namespace dm2::test {
namespace {

using namespace std::chrono_literals;
constexpr std::size_t k = 5;

struct written {
  std::string lfn;
  int owner = 0;
};

class overlay_repair_test : public ::testing::Test {
 protected:
  temp_dir dir{"dm2-overlay-repair"};
  std::unique_ptr<process_consortium> sites;
  std::map<std::string, int> site_number;  // roster site id -> site
  std::vector<dht::site_info> roster_sites;

  void SetUp() override {
    auto created = process_consortium::create(
        dir.path(), {16, 78, "[overlay]\nreplicas = 5\nrepair_period_s = 2\nliveness_timeout_s = 3\n"});
    ASSERT_TRUE(created) << created.err().message;
    sites = std::move(*created);
    for (int site : sites->all_sites()) site_number[sites->site_id(site)] = site;
    auto document = crypto::read_file(sites->roster_file());
    ASSERT_TRUE(document);
    auto roster = crypto::verify_roster(*document, sites->consortium_public_key());
    ASSERT_TRUE(roster) << roster.err().message;
    roster_sites = dht::sites_from_roster(*roster, std::time(nullptr));
    ASSERT_EQ(roster_sites.size(), 16u);
  }

  // Sites that must hold `r` when `live` are up: its owner (if live) and the k live sites
  // closest to the LFN (docs/overlay.md, "Placement").
  std::set<int> holders(const written& r, const std::set<int>& live) {
    std::vector<dht::site_info> up;
    for (const auto& s : roster_sites)
      if (live.count(site_number.at(s.site_id))) up.push_back(s);
    dht::placement_index placement(up);
    std::set<int> out;
    if (live.count(r.owner)) out.insert(r.owner);
    for (const auto& id : placement.closest_ids(dht::key_of(r.lfn), k, sites->site_id(r.owner)))
      out.insert(site_number.at(id));
    return out;
  }

  // lfn -> sites holding a copy, read from every running site's GET /v1/overlay/records.
  std::map<std::string, std::set<int>> copies() {
    std::map<std::string, std::set<int>> out;
    for (int site : sites->running_sites()) {
      std::string after;
      for (;;) {
        auto r = sites->request(site, "GET", "/v1/overlay/records?limit=1000&after=" + after);
        if (!r || r->status != 200) break;
        auto page = nlohmann::json::parse(r->body);
        for (const auto& record : page["records"]) out[record["lfn"].get<std::string>()].insert(site);
        if (page["next"].is_null()) break;
        after = page["next"].get<std::string>();
      }
    }
    return out;
  }

  // Every record is on every site that placement over `live` names.
  bool placed(const std::vector<written>& records, const std::set<int>& live, std::string* missing = nullptr) {
    auto held = copies();
    std::size_t short_records = 0;
    std::string example;
    for (const auto& r : records) {
      const auto& at = held[r.lfn];
      for (int site : holders(r, live))
        if (!at.count(site)) {
          if (short_records++ == 0) {
            example = "; e.g. " + r.lfn + " (owner " + std::to_string(r.owner) + ") is not at " + std::to_string(site) + ", held by";
            for (int s : at) example += " " + std::to_string(s);
          }
          break;
        }
    }
    if (missing)
      *missing = std::to_string(short_records) + " of " + std::to_string(records.size()) + " records lack a copy" + example;
    return short_records == 0;
  }

  // Writes `count` new records, each at its owner (round robin over `owners`), 4 at a time.
  std::vector<written> write_records(std::size_t count, const std::vector<int>& owners, std::uint32_t seed) {
    std::vector<written> out(count);
    std::mt19937 random(seed);
    for (std::size_t i = 0; i < count; ++i) {
      std::string raw(16, '\0');
      for (auto& c : raw) c = static_cast<char>(random());
      out[i] = {crypto::to_hex(raw), owners[i % owners.size()]};
    }
    std::atomic<std::size_t> next{0}, failures{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
      writers.emplace_back([&] {
        for (std::size_t i; (i = next++) < count;) {
          nlohmann::json body = {{"lfn", out[i].lfn}, {"attributes", {{"modality", "CT"}}},
                                 {"signature_hex", crypto::to_hex("record " + out[i].lfn)}};
          auto r = sites->request(out[i].owner, "POST", "/v1/records", body.dump(), out[i].owner);
          if (!r || r->status != 201) ++failures;
        }
      });
    for (auto& w : writers) w.join();
    EXPECT_EQ(failures, 0u);
    return out;
  }

  // Progress on stderr: where a slow or failing run spent its time.
  void phase(const char* what) {
    static const auto start = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[%6.1f s] %s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), what);
  }

  std::set<int> running() {
    auto list = sites->running_sites();
    return {list.begin(), list.end()};
  }
};

TEST_F(overlay_repair_test, sixteen_nodes_keep_every_record_through_five_sigkills_and_catch_up_on_restart) {
  ASSERT_TRUE(sites->start_all());
  ASSERT_TRUE(eventually(
      [&] {
        for (int site : sites->all_sites()) {
          auto r = sites->request(site, "GET", "/v1/overlay");
          if (!r || r->status != 200 || nlohmann::json::parse(r->body)["live_peers"] != 15) return false;
        }
        return true;
      },
      60s))
      << "the 16 nodes did not all see each other";

  phase("16 nodes up and live");
  auto records = write_records(1000, sites->all_sites(), 1);
  phase("1,000 records written");
  std::string missing;
  ASSERT_TRUE(eventually([&] { return placed(records, running(), &missing); }, 60s)) << missing;

  phase("every record on its owner and k replicas");
  const std::vector<int> killed = {2, 5, 8, 11, 14};
  for (int site : killed) sites->kill(site);

  // Readable at once: some live site still holds every record, and serves it.
  auto held = copies();
  for (const auto& r : records) ASSERT_FALSE(held[r.lfn].empty()) << r.lfn << " was only on killed sites";
  for (std::size_t i = 0; i < records.size(); i += 97) {
    int at = *held[records[i].lfn].begin();
    auto got = sites->request(at, "GET", "/v1/records?lfn=" + records[i].lfn);
    ASSERT_TRUE(got && got->status == 200) << records[i].lfn;
  }

  phase("5 nodes killed; every record still readable");
  // Writes go on while a third of the consortium is down.
  auto during = write_records(100, sites->running_sites(), 2);
  records.insert(records.end(), during.begin(), during.end());

  // Repair: every record regains k live replicas besides its (live) owner.
  ASSERT_TRUE(eventually([&] { return placed(records, running(), &missing); }, 90s)) << missing;

  phase("repaired: k live replicas each");
  // The killed sites come back and catch up, including the records written without them.
  ASSERT_TRUE(sites->start(killed));
  phase("5 nodes restarted");
  ASSERT_TRUE(eventually([&] { return placed(records, running(), &missing); }, 90s)) << missing;
  phase("restarted nodes caught up");
}

}  // namespace
}  // namespace dm2::test
