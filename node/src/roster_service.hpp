// The node's one roster refresh path (docs/architecture.md, "Roster updates"). A thread of its
// own runs dht::roster_sync every consortium.roster_refresh_s: it reads the consortium's BEP44
// announcement, fetches a newer roster from a member over mutual TLS (GET /v1/roster; the
// server certificate must be the one the roster lists), verifies and adopts it. The operator's
// POST /v1/roster adopts at once and hands the announcement the operator signed to the same
// thread, which puts it into the DHT. Every adoption is saved, seen by the consortium view (the
// same roster_state), applied to the overlay's allow-lists and told to overlay_service.
// Thread-safe: offer() is for the HTTP threads and never waits on the DHT; the roster thread is
// the only one that does.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "consortium.hpp"
#include "dm2/dht/overlay.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/node/metrics.hpp"
#include "overlay_service.hpp"

namespace dm2::node {

struct roster_offer_outcome {
  bool adopted = false;           // false: it was the current roster already
  std::uint64_t version = 0;      // the node's roster version afterwards
  bool announcement_queued = false;
};

class roster_service {
 public:
  // Registers its metrics in `stats`. Nothing runs before start().
  roster_service(consortium& members, dht::overlay& overlay, overlay_service& replication,
                 const site_identity& identity, std::string consortium_public_key,
                 std::chrono::seconds refresh, metrics& stats);
  ~roster_service();  // stop()

  // Applies the current roster to the overlay and, with a consortium, starts the roster thread.
  void start();
  // Ends the roster thread. Prompt only if the overlay was interrupted first (a refresh may be
  // blocked on a DHT get); a fetch under way ends at its timeout.
  void stop();

  // The body of POST /v1/roster: {"document": "<signed roster document>",
  // "announcement_signature": "<128 hex>" (optional)}. Adopts a newer roster at once; a valid
  // announcement of the offered roster (newer or the current one) is queued for the DHT.
  // Errors: malformed_input (the shape), integrity_failure (the announcement is not the
  // consortium's for this document; nothing adopted), unavailable (no consortium configured),
  // those of consortium::offer.
  result<roster_offer_outcome> offer(std::string_view body);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::node
