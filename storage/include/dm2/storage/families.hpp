// The column families of the node's database, one per data class. Thread-safe (constants).
#pragma once

#include <string_view>
#include <vector>

namespace dm2::storage {

enum class family {
  node_meta,       // bookkeeping: schema version, key check, audit head
  index_records,   // encrypted index records, key = LFN (written only through transactions)
  nominative,      // sealed nominative records
  key_shares,      // sealed Shamir shares held for other sites
  audit,           // the hash-chained audit log, key = 8-byte big-endian sequence
  dht_items,       // BEP44 items kept by the DHT storage
  record_index,    // secondary index of index_records (written only through transactions)
  owned_keys,      // key material of the keys this site owns (series keys), kept to re-split them
  accounts,        // user accounts, session token hashes, care teams, grants (node/src/access)
  results,         // computed results and their provenance (the stage-2 result cache, node/src/provenance)
};

// All families, in the order they are opened.
const std::vector<family>& all_families();
std::string_view name_of(family f);

}  // namespace dm2::storage
