// 160-bit overlay identifiers and the XOR metric (Kademlia). Sites and records live in the same
// space: a site's id is SHA-1 of its Ed25519 public key (the libtorrent DHT node id), a record's
// key is the first 160 bits of SHA-256 of its LFN. Pure values; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::dht {

using node_id = std::array<std::uint8_t, 20>;

// SHA-1 of the site's raw Ed25519 public key: the DHT node id (same as overlay::node_id_hex).
node_id node_id_of_public_key(std::string_view raw_public_key);
// The placement key of an LFN (or of a key id for shares): SHA-256 truncated to 160 bits.
node_id key_of(std::string_view name);

// XOR distance, as a 160-bit big-endian number.
node_id distance(const node_id& a, const node_id& b);
// True when `a` is strictly closer to `target` than `b` is.
bool closer(const node_id& a, const node_id& b, const node_id& target);

std::string to_hex(const node_id& id);
// Errors: malformed_input (not 40 hex characters).
result<node_id> node_id_from_hex(std::string_view hex);

}  // namespace dm2::dht
