// The node's HTTPS surface under load (issue: I/O threads that never block). One dm2d process;
// 16 clients, each on a keep-alive mutual-TLS connection, read records with audited
// GET /v1/records while one more client samples GET /health. The named baseline is /health on
// the same node, idle, measured in the same run.
// Prints a Markdown table: /health idle and loaded (p50, p99, max), audited reads/s, the goals
// (/health p99 < 5 ms under load, >= 3,000 audited reads/s) and a correctness line (every read
// answered 200; the program exits 1 when it is not).
// Usage: http_bench <work dir> [--quick] [--workers N]  (N: https.worker_threads, default the node's)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "process_consortium.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p / 100 * static_cast<double>(v.size() - 1) + 0.5))];
}

// /health latencies on one keep-alive connection, every `gap`, until `stop` or `count` samples.
std::vector<double> sample_health(const dm2::test::process_consortium& sites, std::size_t count,
                                  std::chrono::milliseconds gap, const std::atomic<bool>& stop) {
  dm2::node::https_connection c(sites.target(1), sites.client_tls(0));
  std::vector<double> out;
  (void)c.request("GET", "/health");  // handshake outside the samples
  while (out.size() < count && !stop) {
    auto t0 = clock_type::now();
    auto r = c.request("GET", "/health");
    if (r && r->status == 200) out.push_back(ms_between(t0, clock_type::now()));
    std::this_thread::sleep_for(gap);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: http_bench <work dir> [--quick] [--workers N]\n");
    return 2;
  }
  bool quick = false;
  std::string workers;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc) workers = argv[++i];
  }
  const int clients = 16, records = 100;
  const auto load_for = quick ? 3s : 10s;

  auto sites = dm2::test::process_consortium::create(argv[1], {1, 81, ""});
  if (sites && !workers.empty()) {  // the site's config file, [https] section
    auto file = std::filesystem::path(argv[1]) / "site-1.toml";
    std::stringstream text;
    text << std::ifstream(file).rdbuf();
    auto toml = text.str();
    toml.insert(toml.find("[https]\n") + 8, "worker_threads = " + workers + "\n");
    std::ofstream(file) << toml;
  }
  if (!sites || !(*sites)->start_all()) {
    std::fprintf(stderr, "http_bench: the node did not start%s\n", sites ? "" : (": " + sites.err().message).c_str());
    return 2;
  }
  auto& node = **sites;
  std::vector<std::string> lfns;
  for (int i = 0; i < records; ++i) {
    auto lfn = dm2::crypto::to_hex(dm2::crypto::random_bytes(16));
    nlohmann::json body = {{"lfn", lfn}, {"attributes", {{"modality", "MR"}, {"body_part", "HEART"}}}};
    auto r = node.request(1, "POST", "/v1/records", body.dump(), 1);
    if (!r || r->status != 201) {
      std::fprintf(stderr, "http_bench: POST /v1/records failed\n");
      return 2;
    }
    lfns.push_back(lfn);
  }

  std::atomic<bool> stop{false};
  auto idle = sample_health(node, quick ? 100 : 300, 5ms, stop);

  std::atomic<std::uint64_t> reads{0}, failures{0};
  std::vector<std::thread> readers;
  auto start = clock_type::now();
  for (int t = 0; t < clients; ++t)
    readers.emplace_back([&, t] {
      dm2::node::https_connection c(node.target(1), node.client_tls(1));
      std::size_t i = static_cast<std::size_t>(t);
      while (!stop) {
        auto r = c.request("GET", "/v1/records?lfn=" + lfns[i++ % lfns.size()]);
        if (r && r->status == 200) ++reads;
        else ++failures;
      }
    });
  std::this_thread::sleep_for(300ms);  // every reader connected and busy
  std::vector<double> loaded;
  std::thread sampler([&] { loaded = sample_health(node, 1u << 20, 10ms, stop); });
  std::this_thread::sleep_for(load_for);
  stop = true;
  sampler.join();
  for (auto& t : readers) t.join();
  double seconds = ms_between(start, clock_type::now()) / 1000;
  double rate = static_cast<double>(reads) / seconds;

  double idle_p99 = percentile(idle, 99), loaded_p99 = percentile(loaded, 99);
  std::printf("| measure (1 dm2d, %d clients, mutual TLS, keep-alive) | p50 | p99 | max | goal | met |\n", clients);
  std::printf("|---|---|---|---|---|---|\n");
  std::printf("| GET /health, idle (baseline) | %.2f ms | %.2f ms | %.2f ms | - | - |\n", percentile(idle, 50), idle_p99,
              percentile(idle, 100));
  std::printf("| GET /health, under audited reads | %.2f ms | %.2f ms | %.2f ms | p99 < 5 ms | %s |\n",
              percentile(loaded, 50), loaded_p99, percentile(loaded, 100), loaded_p99 < 5 ? "YES" : "NO");
  std::printf("| audited GET /v1/records | %.0f reads/s | | | >= 3000/s | %s |\n", rate, rate >= 3000 ? "YES" : "NO");
  std::printf("\nloaded /health p99 / idle p99: %.1fx; %zu loaded samples\n", idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0,
              loaded.size());
  bool correct = failures == 0 && reads > 0;
  std::printf("correctness: every read answered 200 (%llu reads, %llu failed): %s\n",
              static_cast<unsigned long long>(reads.load()), static_cast<unsigned long long>(failures.load()),
              correct ? "YES" : "NO");
  return correct ? 0 : 1;
}
