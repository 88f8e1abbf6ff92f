#include "dm2/dht/overlay_status.hpp"

#include <algorithm>

namespace dm2::dht {

overlay_status_report overlay_status(const overlay* o, const membership* members,
                                     const replicator* engine, const replica_store* store,
                                     std::uint64_t roster_version, std::chrono::milliseconds live_age) {
  overlay_status_report r;
  r.roster_version = roster_version;
  if (o) {
    r.dht_running = true;
    r.node_id = o->node_id_hex();
    r.dht_port = o->listen_port();
    r.routing_table_size = o->routing_table_size();
    r.roster_peers = o->roster_peer_count();
    r.live_peers = o->live_peers(live_age).size();
    r.stored_items = o->stored_items();
    r.refused_queries = o->refused_queries();
    r.refused_items = o->refused_items();
  }
  r.liveness_ms = live_age.count();
  if (members)
    for (const auto& s : members->live_sites()) r.live_sites.push_back(s.site_id);
  if (engine) {
    r.replicas = engine->settings().k;
    // Owner + k copies (fewer when fewer sites are live): losing a record takes all of them.
    auto live = members ? members->live_sites().size() : std::size_t{1};
    r.survivable_failures = std::min(r.replicas, live > 0 ? live - 1 : 0);
    r.replicas_owed = engine->replicas_owed();
    r.repair_rounds = engine->counters().rounds;
    r.repair_messages = engine->counters().messages_sent;
  }
  if (store) r.records_held = store->record_count();
  return r;
}

}  // namespace dm2::dht
