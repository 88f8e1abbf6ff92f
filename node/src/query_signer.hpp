// The query fan-out's security layer in the node (docs/overlay.md, "Queries in the node"): the
// home node signs each query with its site's Ed25519 DHT key; a receiving site checks the
// signature against the querier's DHT key in the current roster, checks the query is fresh, and
// refuses a query id it has already seen from that site (replay). Refusals are logged.
//
// The signature field carries issued_at (u64 big-endian Unix milliseconds) followed by the 64-byte
// Ed25519 signature over:
//   "dm2-query-v1\0" | u32 len + querier site | u32 len + query_id | u32 len + body
//   | u64 deadline_ms | u64 issued_at
// (the deadline is on the querier's monotonic clock, meaningless elsewhere; issued_at bounds how
// long a query can be replayed, and so how long its id must be remembered).
//
// A hit relayed by the tree fan-out carries its answering site's Ed25519 signature over:
//   "dm2-hit-v1\0" | u32 len + signer site | u32 len + query_id | u32 len + lfn | u32 len + owner
//   | u64 score (IEEE 754 bits) | u32 len + summary
// checked against the signer's DHT key in the current roster.
//
// Not thread-safe: the node calls it on the overlay service strand only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "dm2/crypto/signature.hpp"
#include "dm2/dht/query_fanout.hpp"
#include "dm2/result.hpp"
#include "replay_guard.hpp"

namespace dm2::node {

// Freshness window and replay memory (replay_guard.hpp), shared with user assertions.
using query_signer_settings = replay_settings;

class query_signer final : public dht::query_authenticator {
 public:
  // The roster's DHT public key (raw 32 bytes) of a current member. Errors: permission_denied.
  using key_lookup = std::function<result<std::string>(std::string_view site_id)>;
  using wall_clock = std::function<std::int64_t()>;  // Unix milliseconds

  // `dht_key_pem`: this site's Ed25519 private key (identity/dht.key).
  query_signer(std::string self_site, std::string dht_key_pem, key_lookup keys,
               query_signer_settings settings = {}, wall_clock now = system_now);

  // Empty if signing fails (logged); every receiver then refuses the query.
  std::string sign(const std::string& query_id, const std::string& body, std::int64_t deadline_ms) override;
  bool verify(const std::string& from_site, const dht::query_request& q) override;
  // Empty if signing fails (logged); every receiver then refuses the hit.
  std::string sign_hit(const std::string& query_id, const dht::query_hit& hit) override;
  bool verify_hit(const std::string& query_id, const dht::query_hit& hit) override;

  std::uint64_t refused() const { return refused_; }
  static std::int64_t system_now();

 private:
  bool refuse(const std::string& from, const dht::query_request& q, const char* reason);
  result<std::string> sign_bytes(std::string_view message) const;

  std::string self_;
  std::optional<crypto::signing_key> key_;  // parsed once: a query signs up to top_k hits
  key_lookup keys_;
  wall_clock now_;
  replay_guard replays_;  // (querier, query id) seen recently
  std::uint64_t refused_ = 0;
};

}  // namespace dm2::node
