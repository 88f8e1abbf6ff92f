// Signed assertions: how a user's request crosses sites (docs/security.md, "Assertions"). The
// home site signs, with its site Ed25519 DHT key, who asks (pseudonymous user id, role), why
// (purpose, grant), what (LFNs and data classes, or a query id) and until when; it travels in the
// DM2-Assertion header of a mutual-TLS request. The receiving site verifies it against the
// issuing site's key in its roster, checks that the TLS peer is that site, that it is fresh,
// unexpired and not replayed (replay_guard, as signed queries), then decides with the policy on
// the asserted user and audits under the user's pseudonym.
//
// Wire form: base64(body) "." base64(signature), body = canonical JSON (sorted keys, no spaces):
//   {"basis":"","classes":[..],"expires_at":ms,"grant":"","issued_at":ms,"lfns":[hex..],"nonce":hex,
//    "purpose":"research","query":"","role":"researcher","site":"site-1","user":hex,"v":1}
// signature = Ed25519(site DHT key, "dm2-assertion-v1" 0x00 body).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "../replay_guard.hpp"
#include "dm2/result.hpp"
#include "policy.hpp"

namespace dm2::node::access {

inline constexpr std::size_t max_assertion_bytes = 8 * 1024;  // header value, encoded
inline constexpr std::size_t max_assertion_lfns = 100;
inline constexpr std::int64_t max_assertion_lifetime_ms = 300'000;
inline constexpr const char* basis_care_team = "care_team";
inline constexpr const char* basis_own_record = "own_record";
inline constexpr const char* assertion_header = "dm2-assertion";  // lower-case, as routes see it

struct assertion {
  std::string site;                 // issuing (home) site id
  std::string user;                 // the user's pseudonym: 32 hex digits, never a name
  role who = role::physician;       // patient, physician, researcher (site admins get none)
  purpose why = purpose::none;
  std::string grant;                // id of the grant it relies on, or ""
  // What the home site vouches for besides a grant: "care_team" (the user is in the care team
  // of the LFNs' patient) or "own_record" (a patient's own series), or "". Only the LFNs' owning
  // site keeps care teams and nominative links, so a receiver believes it only from the owner.
  std::string basis;
  std::vector<std::string> lfns;    // 32-hex LFNs the request may touch
  std::vector<data_class> classes;  // data classes it may touch
  std::string query;                // a query id it carries, or ""
  std::int64_t issued_at = 0;       // Unix ms
  std::int64_t expires_at = 0;      // Unix ms; at most max_assertion_lifetime_ms after issued_at
  std::string nonce;                // 32 hex digits: the replay id

  // Whether the assertion names this LFN and class (a request beyond it is over-scoped).
  bool covers(std::string_view lfn, data_class c) const;
};

// Sets issued_at, expires_at (issued_at + lifetime) and a fresh nonce (unless the caller chose
// one: a retrieval binds the key shares released to it to its nonce), and signs. Errors:
// invalid_argument (a field out of its limits, site admin role, lifetime over the maximum),
// malformed_input/unsupported (the key is not an Ed25519 PEM), crypto_failure.
result<std::string> sign_assertion(assertion a, std::string_view dht_key_pem, std::int64_t now_ms,
                                   std::int64_t lifetime_ms = 60'000);

// Thread-safe (one mutex around the replay memory).
class assertion_verifier {
 public:
  // The roster's raw 32-byte DHT key of a current member. Errors: permission_denied.
  using key_lookup = std::function<result<std::string>(std::string_view site_id)>;
  using wall_clock = std::function<std::int64_t()>;  // Unix ms

  explicit assertion_verifier(key_lookup keys, wall_clock now, replay_settings settings = default_settings());

  // The assertion `wire` presented by roster member `peer_site` (from its TLS certificate).
  // Errors (all permission_denied, message = the reason): "malformed", "not_a_member",
  // "wrong_site" (signed by another site than the one presenting it), "forged", "expired",
  // "stale", "from_the_future", "replayed", "too_many_recent_requests".
  result<assertion> verify(std::string_view peer_site, std::string_view wire);

  // Replays are remembered as long as an assertion can live.
  static replay_settings default_settings() { return {max_assertion_lifetime_ms, 30'000, 100'000}; }

 private:
  key_lookup keys_;
  wall_clock now_;
  std::mutex mutex_;
  replay_guard replays_;
};

}  // namespace dm2::node::access
