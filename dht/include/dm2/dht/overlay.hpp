// The node's private Kademlia overlay: one libtorrent session running only the DHT, on a UDP
// endpoint, with every public-network default turned off (docs/overlay.md, "libtorrent").
// Admission: a session plugin answers DHT queries from addresses not on the roster with an
// error; the item storage keeps only BEP44 items signed by roster keys. Peers come from the
// roster (add_dht_node), never from bootstrap routers.
// No libtorrent type appears here. Thread-safe: libtorrent's network thread owns the DHT state;
// this object posts requests to it and reads what its alert thread recorded.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/crypto/endpoint.hpp"
#include "dm2/result.hpp"

namespace dm2::storage {
class database;
}

namespace dm2::dht {

// What this node's DHT storage accepts from other nodes (BEP44 mutable items only).
struct item_limits {
  std::size_t max_items = 10'000;       // items kept in total
  std::size_t max_items_per_key = 256;  // items one signer (roster key) may keep here
  std::size_t max_value_bytes = 1000;   // bencoded value: BEP44's own limit
  std::size_t max_salt_bytes = 64;      // BEP44's own limit
};

struct overlay_settings {
  std::string listen_address = "127.0.0.1";  // an explicit address: a wildcard disables the DHT
  std::uint16_t listen_port = 6881;          // UDP; 0 picks a free port
  std::chrono::milliseconds start_timeout{5000};     // how long to wait for the socket to listen
  std::chrono::milliseconds request_timeout{10000};  // how long put/get wait for the DHT
  // DHT state (node id, known nodes) saved here on stop and loaded on start, so a restarted
  // node refills its routing table without the roster. Empty: not saved.
  std::filesystem::path state_file;
  item_limits items;
  // Roster peers are pinged round-robin, one at a time: each at most once per probe_interval,
  // and at most probe_rate pings per second in all, so a probe cycle lasts
  // max(probe_interval, peers / probe_rate) (probe_cycle). A peer is live while it answered a
  // ping or sent us a DHT query recently (live_peers).
  std::chrono::milliseconds probe_interval{500};
  double probe_rate = 20.0;  // pings per second, > 0
};

// A roster member's DHT endpoint.
using dht_peer = crypto::endpoint;

// A live roster member and its incarnation: a number its overlay draws at each start and sends
// in its liveness pings and ping replies ("inc"), so a peer sees it restart even when it came back
// before its liveness expired. 0: not heard yet (a peer whose pings do not carry one).
struct live_peer {
  dht_peer endpoint;
  std::uint64_t incarnation = 0;
};

// A BEP44 mutable item as read back.
struct mutable_item {
  std::string public_key;  // raw 32-byte Ed25519 key of the signer
  std::string salt;
  std::string value;       // the raw bytes put with put_mutable
  std::int64_t seq = 0;
};

// Largest value put_mutable accepts: BEP44 allows 1000 bytes of bencoded value ("996:" + 996).
inline constexpr std::size_t max_item_value_size = 996;
inline constexpr std::size_t max_item_salt_size = 64;

class overlay {
 public:
  // Starts the session and waits until its UDP socket listens. `site_public_key` (the site's raw
  // Ed25519 key) fixes the DHT node id: SHA-1 of it. `items` (may be null): the RocksDB database
  // whose dht_items family keeps stored items across restarts; null keeps them in memory.
  // Until set_roster is called nobody is admitted. Errors: unavailable (the port is taken or
  // the address is not local), invalid_argument (bad address), timeout, storage_failure.
  static result<std::unique_ptr<overlay>> start(const overlay_settings& settings,
                                                const std::string& site_public_key,
                                                storage::database* items = nullptr);
  ~overlay();  // saves the DHT state (if configured) and stops the session
  overlay(const overlay&) = delete;
  overlay& operator=(const overlay&) = delete;

  // Replaces the roster view: only `peers`' addresses may query this node, and only items signed
  // by `signing_keys` (raw 32-byte Ed25519: site keys and the consortium key) are stored. Peers
  // not seen before are added to the routing table. Errors: invalid_argument (bad address).
  status set_roster(const std::vector<dht_peer>& peers, const std::vector<std::string>& signing_keys);

  // BEP44 mutable put of `value` (raw bytes), signed with `private_key_pem` (Ed25519), under
  // `salt`. Blocks until libtorrent reports the put; returns how many nodes stored it (0 when
  // every node refused). Errors: too_large (value > max_item_value_size, salt > 64 bytes),
  // malformed_input/unsupported (not an Ed25519 PEM key), timeout, unavailable (after interrupt()).
  result<int> put_mutable(std::string_view private_key_pem, std::string_view salt,
                          std::string_view value, std::int64_t seq);
  // BEP44 mutable put of an item signed elsewhere (bep44.hpp): `public_key` raw 32 bytes,
  // `signature` 64 raw bytes. This node relays it unchecked; every receiving node checks the
  // signature and refuses a wrong one (then 0 is returned). Errors: invalid_argument (key or
  // signature size), too_large, timeout, unavailable (after interrupt()).
  result<int> put_signed_mutable(std::string_view public_key, std::string_view salt,
                                 std::string_view value, std::int64_t seq, std::string_view signature);
  // The newest copy of a mutable item the DHT returns. Errors: not_found (no node has it),
  // invalid_argument (key not 32 bytes), timeout, unavailable (after interrupt()).
  result<mutable_item> get_mutable(std::string_view public_key, std::string_view salt);

  // Wakes every put and get under way and makes later ones fail at once (unavailable), so that
  // a stopping node does not wait out request_timeout on its blocked threads. Irreversible.
  void interrupt();

  // Roster peers that answered a DHT ping or sent this node a DHT query within `max_age`
  // (liveness for the membership view), each with the last incarnation it sent. Replies to
  // libtorrent's own lookups are not seen.
  std::vector<live_peer> live_peers(std::chrono::milliseconds max_age) const;
  // This overlay's incarnation (live_peer): drawn at start, non-zero, below 2^62 (a bencoded int).
  std::uint64_t incarnation() const;

  // Other sites given by the last set_roster.
  std::size_t roster_peer_count() const;
  // How long one round of pings over every roster peer takes at the current roster size:
  // max(probe_interval, roster_peer_count() / probe_rate). A liveness age below ~3 cycles makes
  // live peers flap.
  std::chrono::milliseconds probe_cycle() const;
  // Liveness pings sent since start (each dht_direct_request or add_dht_node counts one).
  std::uint64_t pings_sent() const;

  std::uint16_t listen_port() const;
  // The 20-byte node id the DHT runs with, as lowercase hex.
  std::string node_id_hex() const;
  // Nodes in the routing table at the last statistics refresh (every 500 ms).
  std::size_t routing_table_size() const;
  // DHT queries refused because their source is not on the roster.
  std::uint64_t refused_queries() const;
  // Items refused by the storage (unknown signer, over quota, oversized, malformed).
  std::uint64_t refused_items() const;
  // Items held by this node's DHT storage.
  std::size_t stored_items() const;

 private:
  struct impl;
  explicit overlay(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::dht
