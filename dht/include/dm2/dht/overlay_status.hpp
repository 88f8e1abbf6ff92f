// What `dm2 overlay status` and GET /v1/overlay show: a plain snapshot of the overlay, built
// from the running parts (any may be null when that part is not running). The node serializes
// it; nothing here knows HTTP or JSON. Thread-safety: as the parts it reads (call it on the
// replicator's strand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dm2/dht/membership.hpp"
#include "dm2/dht/overlay.hpp"
#include "dm2/dht/replica_store.hpp"
#include "dm2/dht/replicator.hpp"

namespace dm2::dht {

struct overlay_status_report {
  bool dht_running = false;
  std::string node_id;                 // 40 hex characters
  std::uint16_t dht_port = 0;
  std::size_t routing_table_size = 0;  // nodes in libtorrent's routing table
  std::size_t roster_peers = 0;        // other sites on the roster
  std::size_t live_peers = 0;          // of those, answering DHT pings
  std::uint64_t roster_version = 0;
  std::size_t stored_items = 0;        // BEP44 items this node keeps for the DHT
  std::uint64_t refused_queries = 0;   // DHT queries from addresses not on the roster
  std::uint64_t refused_items = 0;     // DHT items refused (signer, size, quota)
  std::size_t records_held = 0;        // index records in the local replica store
  std::size_t replicas_owed = 0;       // copies found missing at other holders this round
  std::uint64_t repair_rounds = 0;
  std::uint64_t repair_messages = 0;
  std::vector<std::string> live_sites;  // site ids, from the membership view
  std::size_t keys_owned = 0;          // keys this site owns (their shares are placed t-of-n)
  // What cannot be placed as configured, said plainly (e.g. a consortium of one has no site to
  // hold replicas or shares); empty when nothing is short.
  std::vector<std::string> placement_warnings;
  std::size_t replicas = 0;            // k: copies of each record besides the owner's
  // Sites that may fail at once without losing any record: min(k, live sites - 1), once repair
  // has caught up (replicas_owed 0 at every site). docs/overlay.md, "Durability".
  std::size_t survivable_failures = 0;
  std::int64_t liveness_ms = 0;        // the liveness age in use (a peer silent this long is down)
  // Query fan-out traffic (query_request / query_answer, subtree_request / subtree_answer) this
  // node handed to its transport and received since it started, wire bytes included; filled by
  // the node, which owns the transport (0 here).
  std::uint64_t query_messages_sent = 0;
  std::uint64_t query_bytes_sent = 0;
  std::uint64_t query_messages_received = 0;
  std::uint64_t query_bytes_received = 0;
  std::int64_t tree_hop_ms = 0;          // the tree fan-out's allowance per level in use (0: no tree)
  std::uint64_t tree_buckets_resent = 0;  // its buckets re-sent to another member: children found late
};

overlay_status_report overlay_status(const overlay* o, const membership* members,
                                     const replicator* engine, const replica_store* store,
                                     std::uint64_t roster_version,
                                     std::chrono::milliseconds live_age = std::chrono::seconds(5));

}  // namespace dm2::dht
