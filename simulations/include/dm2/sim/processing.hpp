// How long a simulated site takes to handle a message it receives (docs/simulator.md,
// "Processing"). sim_network queues each site's messages and serves them one at a time (the
// node handles overlay messages on one strand), so a burst at one site — a querier's N − 1
// answers — waits behind itself. Fitted to the real overlay by bench/fit_latency.py.
#pragma once

#include <cstdint>

#include "dm2/dht/messages.hpp"

namespace dm2::dht {

struct processing_costs {
  double message_us = 0;  // every message: its TLS record and HTTP request, decode, the strand hop
  double store_us = 0;    // per synced commit: a push_records' whole batch, each share of push_shares
  double query_us = 0;    // per query answered (query_request, subtree_request): the querier's
                          // signature checked, the site's records filtered and scored
  double hit_us = 0;      // per hit received in an answer (query_answer, subtree_answer)
  double verify_us = 0;   // per Ed25519 signature checked: every pushed record (its owner's) and
                          // every hit of a subtree_answer (each site signs its own); the
                          // simulator's carry no signature, their cost does
  bool any() const { return message_us > 0 || store_us > 0 || query_us > 0 || hit_us > 0 || verify_us > 0; }
};

// The service time of `m` at its receiver, in whole microseconds.
std::int64_t service_us(const processing_costs& costs, const message& m);

}  // namespace dm2::dht
