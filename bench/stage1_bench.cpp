// Stage 1 alone at one site (issue 11 item 7): a real replica store (RocksDB, sealed records)
// filled with N synthetic index records (64-float signatures, realistic attributes, one owner),
// then after a restart: the stage-1 index built from the database (timed, memory per record),
// and stage-1 queries (top 20, with and without a filter matching half the records) answered by
// the index against the linear path it replaces (every record read, decoded, filtered, scored:
// dht::query_fanout's loop), measured in the same run. The index's hits are checked identical to
// the linear path's (exact search: recall 1). A profile of the linear path's cost per record
// comes first.
// Usage: stage1_bench DIR N[,N...] [queries, default 50] [linear queries, default 10]
//   linear queries are skipped above 200,000 records (about 12 s each there).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "dm2/storage/query.hpp"
#include "query_scoring.hpp"
#include "similarity/signature.hpp"
#include "stage_one/stage_one_index.hpp"

namespace {

using namespace dm2;
using clock_type = std::chrono::steady_clock;
constexpr std::size_t dim = 64;
constexpr std::size_t top_k = 20;
const std::string self = "site-a";

double since(clock_type::time_point start) { return std::chrono::duration<double>(clock_type::now() - start).count(); }

double rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  return 0;
}
// Bytes handed out by malloc: the arena's and the large blocks' it maps on their own.
double heap_mb() {
  auto m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1024 * 1024);
}


struct generator {
  std::mt19937 rng{42};
  std::normal_distribution<float> normal;
  std::vector<float> signature() {
    std::vector<float> v(dim);
    for (auto& x : v) x = normal(rng);
    return v;
  }
  template <typename T>
  const T& pick(const std::vector<T>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  }
  storage::index_record record() {
    storage::index_record r;
    r.lfn = crypto::random_bytes(storage::lfn_size);
    r.version = 1;
    r.owner_site = self;
    // Half CT (the filtered query's half), the rest spread like a hospital's archive.
    r.attributes.modality = rng() % 2 ? "CT" : pick<std::string>({"MR", "US", "CR", "PT", "NM"});
    r.attributes.body_part = pick<std::string>({"CHEST", "HEART", "HEAD", "ABDOMEN", "PELVIS", "KNEE", "SPINE"});
    r.attributes.manufacturer = pick<std::string>({"SIEMENS", "GE MEDICAL SYSTEMS", "Philips", "TOSHIBA", "Canon"});
    char date[9];
    std::snprintf(date, sizeof date, "%04d%02d%02d", 2010 + static_cast<int>(rng() % 16), 1 + static_cast<int>(rng() % 12),
                  1 + static_cast<int>(rng() % 28));
    r.attributes.study_date = date;
    r.attributes.series_date = date;
    r.attributes.sex = pick<std::string>({"F", "M"});
    r.attributes.age_band = pick<std::string>({"020-029", "030-039", "040-049", "050-059", "060-069", "070-079"});
    if (rng() % 20 == 0) r.diagnoses = {{"I21.4", "20261202", false}};
    r.signature = similarity::signature_bytes(signature());
    r.owner_signature = std::string(64, 's');  // not checked here: the store's verifier is off
    return r;
  }
};

struct percentiles {
  double p50 = 0, p99 = 0;
};
percentiles of(std::vector<double> ms) {
  if (ms.empty()) return {};
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ms.size())))]; };
  return {at(0.5), at(0.99)};
}

// dht::query_fanout's answer without an index: every held record read, scored, the top kept.
std::vector<dht::query_hit> linear(const dht::replica_store& store, const dht::query_plan& plan) {
  std::vector<std::string> ours;
  store.for_each_summary([&](const dht::record_summary& r) {
    if (r.owner == self) ours.push_back(r.lfn);
  });
  std::vector<dht::query_hit> hits;
  for (const auto& lfn : ours)
    if (auto r = store.get_record(lfn))
      if (auto hit = plan.score(*r)) hits.push_back(std::move(*hit));
  auto keep = std::min(hits.size(), plan.top_k);
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(), dht::ranks_before);
  hits.resize(keep);
  return hits;
}

bool same(const std::vector<dht::query_hit>& a, const std::vector<dht::query_hit>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].lfn != b[i].lfn || a[i].score != b[i].score || a[i].summary != b[i].summary) return false;
  return true;
}

// Where the linear path's time per record goes, over the first `n` records.
void profile(const dht::replica_store& store, std::size_t n, const std::string& body) {
  std::vector<std::string> lfns;
  store.for_each_summary([&](const dht::record_summary& r) {
    if (lfns.size() < n) lfns.push_back(r.lfn);
  });
  auto plan = *node::plan_query(body);
  auto q = *node::parse_query_body(body);
  auto qs = *node::signature_samples(q.signature);
  std::vector<dht::record> records;
  auto t = clock_type::now();
  for (const auto& lfn : lfns) records.push_back(*store.get_record(lfn));
  double read = since(t);
  std::vector<storage::index_record> decoded;
  t = clock_type::now();
  for (const auto& r : records) decoded.push_back(*dht::decode_replica(r));
  double decode = since(t);
  std::size_t matched = 0;
  t = clock_type::now();
  for (const auto& r : decoded) matched += storage::matches(r, q.filters) ? 1 : 0;
  double filter = since(t);
  double sum = 0;
  t = clock_type::now();
  for (const auto& r : decoded) sum += node::ncc(qs, *node::signature_samples(r.signature)).value_or(0);
  double score = since(t);
  t = clock_type::now();
  for (const auto& r : records) matched += plan.score(r) ? 1 : 0;
  double whole = since(t);
  auto us = [&](double s) { return s * 1e6 / static_cast<double>(lfns.size()); };
  std::printf("linear path per record (%zu records, filter off): read+unseal %.1f us, decode+validate+re-encode %.1f us, "
              "filter %.2f us, NCC %.2f us (mean %.3f), hit summary JSON %.1f us (plan.score %.1f us in all)\n",
              lfns.size(), us(read), us(decode), us(filter), us(score), sum / static_cast<double>(lfns.size()),
              us(whole - decode - filter - score), us(whole));
}

int run(const std::filesystem::path& dir, std::size_t n, std::size_t queries, std::size_t linear_queries) {
  auto key = crypto::random_bytes(32);
  auto signer = *storage::ed25519_audit_signer(*crypto::generate_private_key(crypto::key_type::ed25519));
  generator gen;
  std::vector<std::string> stored_signatures;  // a few, to query near-duplicates too
  {
    auto db = storage::database::open(dir / "db", key, {}, signer);
    if (!db) return std::fprintf(stderr, "%s\n", db.err().to_string().c_str()), 1;
    auto opened = dht::storage_replica_store::open(**db, {});
    if (!opened) return std::fprintf(stderr, "%s\n", opened.err().to_string().c_str()), 1;
    auto& store = *opened;
    auto t = clock_type::now();
    std::vector<dht::record> batch;
    for (std::size_t i = 0; i < n; ++i) {
      auto r = gen.record();
      if (i % (n / 10) == 0) stored_signatures.push_back(r.signature);
      batch.push_back(dht::replica_of(r));
      if (batch.size() == 1000 || i + 1 == n) {
        store->put_records(batch);
        batch.clear();
      }
    }
    std::printf("\n## %zu records: filled the store in %.1f s\n", n, since(t));
  }
  // The restart: the store counts its records, then the index is built from the database.
  auto reopened = storage::database::open(dir / "db", key, {}, signer);
  if (!reopened) return std::fprintf(stderr, "%s\n", reopened.err().to_string().c_str()), 1;
  auto& db = *reopened;
  double heap0 = heap_mb();
  auto t = clock_type::now();
  auto counted = dht::storage_replica_store::open(*db, {});
  if (!counted) return std::fprintf(stderr, "%s\n", counted.err().to_string().c_str()), 1;
  auto& store = *counted;
  double open_s = since(t);
  double rss1 = rss_mb(), heap1 = heap_mb();
  t = clock_type::now();
  node::stage_one::stage_one_index index;
  if (auto s = index.build(*db); !s) return std::fprintf(stderr, "%s\n", s.err().to_string().c_str()), 1;
  double build_s = since(t);
  store->set_listener(&index);
  malloc_trim(0);
  double rss2 = rss_mb(), heap2 = heap_mb();
  double per = 1024.0 * 1024.0 / static_cast<double>(n);
  std::printf("restart: store open %.2f s (its summaries: heap %.0f B/record); index build %.2f s (%.0f records/s)\n",
              open_s, (heap1 - heap0) * per, build_s, static_cast<double>(n) / build_s);
  std::printf("index memory: heap %.0f B/record, RSS %.0f B/record; process RSS %.0f MB (%.0f B/record)\n",
              (heap2 - heap1) * per, (rss2 - rss1) * per, rss2, rss2 * per);

  profile(*store, std::min<std::size_t>(n, 20000), node::canonical_json([&] {
            node::query_body q;
            q.signature = similarity::signature_bytes(gen.signature());
            return q;
          }()));

  dht::query_plan::owner_test ours = [](const std::string& owner) { return owner == self; };
  bool identical = true;
  std::size_t checked = 0;
  std::printf("| query | path | queries | p50 ms | p99 ms | records read/query |\n|---|---|---|---|---|---|\n");
  double index_p99_all = 0;
  for (bool filtered : {false, true}) {
    std::vector<double> index_ms, linear_ms;
    std::size_t reads = 0;
    for (std::size_t i = 0; i < queries; ++i) {
      node::query_body q;
      // One query in five is a stored record's signature (its twin ranks first).
      q.signature = i % 5 == 0 ? stored_signatures[i / 5 % stored_signatures.size()] : similarity::signature_bytes(gen.signature());
      if (filtered) q.filters.modality = "CT";
      q.top_k = top_k;
      auto body = node::canonical_json(q);
      auto started = clock_type::now();
      auto plan = node::plan_query(body);
      node::stage_one::search_stats stats;
      auto hits = index.search(q, ours, q.top_k, [&](const std::string& lfn) -> std::optional<dht::query_hit> {
        auto r = store->get_record(lfn);
        return r ? plan->score(*r) : std::nullopt;
      }, &stats);
      index_ms.push_back(since(started) * 1000);
      reads += stats.scored + stats.unscored;
      if (i < linear_queries) {
        started = clock_type::now();
        auto want = linear(*store, *plan);
        linear_ms.push_back(since(started) * 1000);
        identical = identical && same(hits, want);
        ++checked;
      }
    }
    auto ix = of(index_ms), ln = of(linear_ms);
    const char* name = filtered ? "modality=CT (half)" : "no filter";
    std::printf("| %s | FAISS flat index | %zu | %.1f | %.1f | %.0f |\n", name, index_ms.size(), ix.p50, ix.p99,
                static_cast<double>(reads) / static_cast<double>(queries));
    if (!linear_ms.empty())
      std::printf("| %s | linear (today) | %zu | %.1f | %.1f | %zu |\n", name, linear_ms.size(), ln.p50, ln.p99, n);
    if (!linear_ms.empty()) std::printf("speed-up p50 (%s): %.0fx\n", name, ln.p50 / ix.p50);
    index_p99_all = std::max(index_p99_all, ix.p99);
  }
  std::printf("hits identical to the linear path (exact search, recall 1.0): %s (%zu queries compared)\n",
              checked == 0 ? "not compared" : identical ? "YES" : "NO", checked);
  if (n >= 1000000) std::printf("p99 < 200 ms at 1M: %s (%.1f ms)\n", index_p99_all < 200 ? "YES" : "NO", index_p99_all);
  std::printf("<= 512 B/record (index heap, %zu records): %s (%.0f B)\n", n, (heap2 - heap1) * per <= 512 ? "YES" : "NO",
              (heap2 - heap1) * per);
  return identical ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: stage1_bench DIR N[,N...] [queries] [linear queries]\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines show as they come when piped to a log
  std::filesystem::path dir = argv[1];
  std::vector<std::size_t> sizes;
  std::stringstream list(argv[2]);
  for (std::string item; std::getline(list, item, ',');) sizes.push_back(std::stoul(item));
  std::size_t queries = argc > 3 ? std::stoul(argv[3]) : 50;
  std::size_t linear_queries = argc > 4 ? std::stoul(argv[4]) : 10;
  int rc = 0;
  for (auto n : sizes) {
    auto sub = dir / std::to_string(n);
    std::filesystem::create_directories(sub);
    rc |= run(sub, n, queries, n > 200000 ? 0 : linear_queries);
    std::filesystem::remove_all(sub);
  }
  return rc;
}
