// What a replicator derives from the records it holds, built once per (store generation,
// placement epoch) instead of once per message: each record's holders, digest bucket and hash,
// the records each peer should hold too, and the records per bucket. A digest request from a
// peer then touches the few records it shares with us, not the whole store (profiled in
// dm2-sim: walking every summary per digest was 70 % of the run).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "dm2/dht/replica_store.hpp"

namespace dm2::dht {

struct held_record {
  record_summary summary;
  std::vector<std::string> holders;  // owner (if live) first, then the k replicas
  std::uint32_t bucket = 0;
  std::uint64_t hash = 0;  // the record's digest contribution
  bool owed = false;       // this site is among the holders
};

struct record_index {
  bool built = false;
  std::uint64_t generation = 0;      // of the store, when built
  std::uint64_t epoch = 0;           // of the placement cache, when built
  std::vector<held_record> records;  // in store (lfn) order
  std::unordered_map<std::string, std::vector<std::uint32_t>> by_peer;  // peer -> its records here
  std::map<std::uint32_t, std::vector<std::uint32_t>> by_bucket;
  std::uint64_t print = 0;  // fingerprint of every record's holders (holders_print)

  void clear() {
    records.clear();
    by_peer.clear();
    by_bucket.clear();
    print = 0;
  }
};

}  // namespace dm2::dht
