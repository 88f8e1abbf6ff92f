// Indexed record commits/s (one transaction: encrypted index record + its 8 secondary-index
// entries + a signed, chained audit entry; WAL synced) against a plain RocksDB Put loop of the
// same value size with the same sync setting, measured in the same run, alternating rounds so a
// busy disk or CPU skews both alike. bench/storage_bench.sh runs it.
// Usage: storage_bench DIR [seconds per round, default 2] [rounds, default 3]
#include <rocksdb/db.h>

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

// Commits per second over `seconds`.
double indexed_round(storage::database& db, double seconds) {
  auto start = clock_type::now();
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
  return n / std::chrono::duration<double>(clock_type::now() - start).count();
}

double plain_round(rocksdb::DB& db, std::size_t value_size, double seconds) {
  rocksdb::WriteOptions w;
  w.sync = true;
  auto start = clock_type::now();
  long n = 0;
  while (std::chrono::duration<double>(clock_type::now() - start).count() < seconds) {
    auto status = db.Put(w, crypto::random_bytes(16), crypto::random_bytes(value_size));
    if (!status.ok()) {
      std::fprintf(stderr, "put failed: %s\n", status.ToString().c_str());
      std::exit(1);
    }
    ++n;
  }
  return n / std::chrono::duration<double>(clock_type::now() - start).count();
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

  double indexed_sum = 0, plain_sum = 0;
  std::printf("%-6s %16s %16s %8s\n", "round", "indexed/s", "plain put/s", "ratio");
  for (int i = 0; i < rounds; ++i) {
    double p = plain_round(*plain, value_size, seconds);
    double x = indexed_round(**db, seconds);
    plain_sum += p;
    indexed_sum += x;
    std::printf("%-6d %16.0f %16.0f %7.0f%%\n", i + 1, x, p, 100 * x / p);
  }
  double ratio = indexed_sum / plain_sum;
  std::printf("%-6s %16.0f %16.0f %7.0f%%   (value %zu bytes, sync=true, goal >= 50%%: %s)\n", "mean",
              indexed_sum / rounds, plain_sum / rounds, 100 * ratio, value_size,
              ratio >= 0.5 ? "met" : "NOT met");
  (void)plain->Close();
  return 0;
}
