// Real libtorrent overlays on distinct loopback addresses 127.0.0.x, each with its own site key,
// joined through set_roster (add_dht_node), for the overlay tests and the DHT benchmark.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dm2/crypto/keys.hpp"
#include "dm2/dht/overlay.hpp"

namespace dm2::dht::testing {

struct overlay_node {
  std::string address;
  std::string key_pem;     // Ed25519 site key
  std::string public_key;  // raw 32 bytes
  std::unique_ptr<overlay> node;
};

inline std::string new_ed25519_key() {
  auto k = crypto::generate_private_key(crypto::key_type::ed25519);
  return k.ok() ? *k : std::string();
}

// Starts a node on 127.0.0.<host> (ephemeral port). Empty `node` on failure (the test asserts).
inline overlay_node start_node(int host, overlay_settings s = {}) {
  overlay_node n;
  n.address = "127.0.0." + std::to_string(host);
  n.key_pem = new_ed25519_key();
  n.public_key = *crypto::raw_public_key(n.key_pem);
  s.listen_address = n.address;
  s.listen_port = 0;
  auto o = overlay::start(s, n.public_key);
  if (o.ok()) n.node = std::move(*o);
  return n;
}

inline std::vector<dht_peer> peers_of(const std::vector<overlay_node*>& nodes) {
  std::vector<dht_peer> out;
  for (auto* n : nodes) out.push_back({n->address, n->node->listen_port()});
  return out;
}

inline std::vector<std::string> keys_of(const std::vector<overlay_node*>& nodes) {
  std::vector<std::string> out;
  for (auto* n : nodes) out.push_back(n->public_key);
  return out;
}

// Polls `pred` every 20 ms until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace dm2::dht::testing
