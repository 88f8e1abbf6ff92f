// storage_replica_store: records stored per second when a push of 256 records is one
// put_records call (one synced commit) against 256 put_record calls (256 synced commits), each
// record checked with a real Ed25519 verifier; then for_each_record's rate and the time to open
// (count) the store. Usage: replica_store_bench DIR [pushes, default 8]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/signature.hpp"
#include "dm2/dht/storage_replica_store.hpp"

namespace {

using namespace dm2;
using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::vector<dht::record> make_push(const std::string& pem, std::size_t n) {
  std::vector<dht::record> out;
  for (std::size_t i = 0; i < n; ++i) {
    storage::index_record r;
    r.lfn = crypto::random_bytes(storage::lfn_size);
    r.version = 1;
    r.owner_site = "site-a";
    r.attributes = {"CT", "CHEST", "SIEMENS", "20240115", "20240115", "F", "040-049"};
    r.signature = crypto::random_bytes(1024);
    r.owner_signature = *crypto::sign(pem, storage::signed_payload(r));
    out.push_back(dht::replica_of(r));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: replica_store_bench DIR [pushes]\n");
    return 2;
  }
  std::filesystem::path dir = argv[1];
  int pushes = argc > 2 ? std::stoi(argv[2]) : 8;
  auto pem = *crypto::generate_private_key(crypto::key_type::ed25519);
  auto pub = *crypto::raw_public_key(pem);
  auto verifier = [&pub](const storage::index_record& r) {
    return crypto::verify(pub, storage::signed_payload(r), r.owner_signature).ok();
  };
  auto signer = storage::ed25519_audit_signer(pem);
  auto key = crypto::random_bytes(32);
  auto db = storage::database::open(dir / "db", key, {}, *signer);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.err().to_string().c_str());
    return 1;
  }
  auto store = dht::storage_replica_store::open(**db, verifier);
  if (!store) return 1;

  double batched = 0, single = 0;
  std::size_t stored = 0;
  for (int i = 0; i < pushes; ++i) {
    auto a = make_push(pem, 256), b = make_push(pem, 256);
    auto start = clock_type::now();
    stored += (*store)->put_records(a);
    batched += since(start);
    start = clock_type::now();
    for (const auto& r : b) stored += (*store)->put_record(r) ? 1 : 0;
    single += since(start);
  }
  std::size_t n = 256 * static_cast<std::size_t>(pushes);
  std::printf("put_records (256 per call, one commit): %8.0f records/s\n", n / batched);
  std::printf("put_record  (one commit each):          %8.0f records/s\n", n / single);
  auto start = clock_type::now();
  std::size_t seen = 0;
  (*store)->for_each_record([&](const dht::record&) { ++seen; });
  std::printf("for_each_record: %zu records in %.3f s (%.0f/s)\n", seen, since(start), seen / since(start));
  store->reset();
  start = clock_type::now();
  auto reopened = dht::storage_replica_store::open(**db, verifier);
  std::printf("open (count %zu records): %.4f s; stored %zu of %zu\n", (*reopened)->record_count(), since(start),
              stored, 2 * n);
  return 0;
}
