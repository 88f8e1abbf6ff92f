// The node's private Kademlia overlay: one libtorrent session running only the DHT, on a UDP
// endpoint, with every public-network default turned off (docs/architecture.md, "Overlay").
// No libtorrent type appears here. Thread-safe: libtorrent's network thread owns the DHT state;
// this object only posts requests to it and reads what its alert thread recorded.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "dm2/result.hpp"

namespace dm2::dht {

struct overlay_settings {
  std::string listen_address = "127.0.0.1";  // an explicit address: a wildcard disables the DHT
  std::uint16_t listen_port = 6881;          // UDP; 0 picks a free port
  std::chrono::milliseconds start_timeout{5000};  // how long to wait for the socket to listen
};

class overlay {
 public:
  // Starts the session and waits until its UDP socket listens. `site_public_key` (the site's raw
  // Ed25519 key) fixes the DHT node id: SHA-1 of it. Errors: unavailable (the port is taken or
  // the address is not local), invalid_argument (bad address), timeout.
  static result<std::unique_ptr<overlay>> start(const overlay_settings& settings,
                                                const std::string& site_public_key);
  ~overlay();  // stops the session
  overlay(const overlay&) = delete;
  overlay& operator=(const overlay&) = delete;

  std::uint16_t listen_port() const;
  // The 20-byte node id, as lowercase hex.
  std::string node_id_hex() const;
  // Nodes in the routing table at the last statistics refresh (every few seconds).
  std::size_t routing_table_size() const;

 private:
  struct impl;
  explicit overlay(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::dht
