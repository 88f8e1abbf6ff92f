// Indexed record commits/s (one transaction: encrypted index record + its 8 secondary-index
// entries + a signed, chained audit entry; WAL synced) against a plain RocksDB Put loop of the
// same value size with the same sync setting, measured in the same run, alternating rounds so a
// busy disk or CPU skews both alike. Beside the rates, the CPU time per operation (this thread's,
// user + system): on a disk with fast fsync that, not the sync, decides the ratio.
// bench/storage_bench.sh runs it.
// Usage: storage_bench DIR [seconds per round, default 2] [rounds, default 3]
#include <rocksdb/db.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/storage/database.hpp"

namespace {

using namespace dm2;
using clock_type = std::chrono::steady_clock;

storage::index_record make_record() {
  storage::index_record r;
  r.lfn = crypto::random_bytes(storage::lfn_size);
  r.version = 1;
  r.owner_site = "site-a";
  r.attributes = {"CT", "CHEST", "SIEMENS", "20240115", "20240115", "F", "040-049"};
  r.signature = crypto::random_bytes(1024);  // a small similarity signature
  r.owner_signature = crypto::random_bytes(64);
  return r;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct round_result {
  double per_second = 0, cpu_us = 0;  // operations/s; CPU microseconds per operation
};

// Commits per second over `seconds`.
round_result indexed_round(storage::database& db, double seconds) {
  auto start = clock_type::now();
  double cpu = thread_cpu_seconds();
  long n = 0;
  while (std::chrono::duration<double>(clock_type::now() - start).count() < seconds) {
    auto r = make_record();
    storage::transaction t;
    t.put_index_record(r);
    t.append_audit({0, "node", "ingest", crypto::to_hex(r.lfn), "allowed", "bench"});
    if (auto s = db.commit(std::move(t)); !s) {
      std::fprintf(stderr, "commit failed: %s\n", s.err().to_string().c_str());
      std::exit(1);
    }
    ++n;
  }
  return {n / std::chrono::duration<double>(clock_type::now() - start).count(),
          (thread_cpu_seconds() - cpu) * 1e6 / static_cast<double>(n)};
}

round_result plain_round(rocksdb::DB& db, std::size_t value_size, double seconds) {
  rocksdb::WriteOptions w;
  w.sync = true;
  auto start = clock_type::now();
  double cpu = thread_cpu_seconds();
  long n = 0;
  while (std::chrono::duration<double>(clock_type::now() - start).count() < seconds) {
    auto status = db.Put(w, crypto::random_bytes(16), crypto::random_bytes(value_size));
    if (!status.ok()) {
      std::fprintf(stderr, "put failed: %s\n", status.ToString().c_str());
      std::exit(1);
    }
    ++n;
  }
  return {n / std::chrono::duration<double>(clock_type::now() - start).count(),
          (thread_cpu_seconds() - cpu) * 1e6 / static_cast<double>(n)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: storage_bench DIR [seconds per round] [rounds]\n");
    return 2;
  }
  std::filesystem::path dir = argv[1];
  double seconds = argc > 2 ? std::stod(argv[2]) : 2.0;
  int rounds = argc > 3 ? std::stoi(argv[3]) : 3;

  auto signer = storage::ed25519_audit_signer(*crypto::generate_private_key(crypto::key_type::ed25519));
  auto db = storage::database::open(dir / "dm2", crypto::random_bytes(32), {}, *signer);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.err().to_string().c_str());
    return 1;
  }
  // The plain loop writes values as large as a stored (sealed) index record.
  const std::size_t value_size = storage::encode_index_record(make_record()).size() + 1 + 8 + 28;

  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (auto s = rocksdb::DB::Open(options, (dir / "plain").string(), &raw); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> plain(raw);

  round_result indexed_sum, plain_sum;
  std::printf("%-6s %12s %12s %8s %14s %14s\n", "round", "indexed/s", "plain put/s", "ratio",
              "indexed CPU us", "plain CPU us");
  for (int i = 0; i < rounds; ++i) {
    auto p = plain_round(*plain, value_size, seconds);
    auto x = indexed_round(**db, seconds);
    plain_sum.per_second += p.per_second;
    plain_sum.cpu_us += p.cpu_us;
    indexed_sum.per_second += x.per_second;
    indexed_sum.cpu_us += x.cpu_us;
    std::printf("%-6d %12.0f %12.0f %7.0f%% %14.0f %14.0f\n", i + 1, x.per_second, p.per_second,
                100 * x.per_second / p.per_second, x.cpu_us, p.cpu_us);
  }
  double ratio = indexed_sum.per_second / plain_sum.per_second;
  std::printf("%-6s %12.0f %12.0f %7.0f%% %14.0f %14.0f\n", "mean", indexed_sum.per_second / rounds,
              plain_sum.per_second / rounds, 100 * ratio, indexed_sum.cpu_us / rounds,
              plain_sum.cpu_us / rounds);
  std::printf("goal (indexed commits >= 50%% of plain synced puts; value %zu bytes): %s\n", value_size,
              ratio >= 0.5 ? "YES" : "NO");
  (void)plain->Close();
  return 0;
}
