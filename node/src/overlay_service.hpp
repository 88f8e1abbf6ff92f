// The replication engine inside a running node (docs/overlay.md): dht::replicator with the
// overlay's membership view and a replica store, all serialized on one service thread of its
// own and ticked by a timer; messages to other sites go over mutual-TLS HTTPS
// (POST /v1/overlay/message, dht::encode_message) from a small client pool, so neither the
// node's I/O threads nor the service thread ever block on a peer.
// Thread-safe: every public member may be called from any thread except the service thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "consortium.hpp"
#include "dm2/dht/messages.hpp"
#include "dm2/dht/overlay.hpp"
#include "dm2/dht/overlay_status.hpp"
#include "dm2/dht/replica_store.hpp"
#include "dm2/dht/replicator.hpp"
#include "dm2/node/identity.hpp"

namespace dm2::node {

class overlay_service {
 public:
  overlay_service(dht::overlay& overlay, const consortium& members, const site_identity& identity,
                  dht::replication_settings settings, std::chrono::milliseconds liveness_age);
  ~overlay_service();  // stops the timer and waits for sends under way

  // Starts ticking and runs a first repair round. Without a roster entry for this site the
  // service stays idle (it has no site id to replicate under).
  void start();
  void stop();
  // The roster changed: membership is rebuilt at the next tick.
  void roster_changed();

  // A message from a verified roster member.
  void deliver(const std::string& from_site, dht::message message);
  // The owner's write of a record (its payload already encrypted and signed above this layer).
  // Errors: unavailable (this site is not on the roster).
  status publish(dht::record record);
  // The local copy of a record, if this site holds one.
  std::optional<dht::record> find(const std::string& lfn);
  // Up to `limit` records held here with an LFN after `after`, in LFN order, payloads left out
  // (paging through what a site holds: operators and the repair tests).
  std::vector<dht::record> held_records(const std::string& after, std::size_t limit);
  dht::overlay_status_report report();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace dm2::node
