// The roster: the consortium's list of accredited sites, signed by the consortium key (Ed25519,
// kept beside the CA key). A site that is not on the current roster, or whose entry has
// expired, is revoked. Format in docs/crypto.md, "Roster":
//
//   body     = canonical JSON of the roster (keys sorted, no spaces, ASCII only, sites sorted by
//              site_id, binary fields as lowercase hex); roster_hash = SHA-256(body)
//   document = {"roster":<body>,"signature":"<128 hex, or empty for an unsigned draft>"} "\n"
//   signed   = Ed25519(consortium key, "dm2 roster v1" || 0x00 || body)
//
// Decoding is strict: the input must be exactly what the encoder would write (so any changed
// byte is refused), within the limits below, with no duplicate site id, certificate or key.
// Free functions are thread-safe; roster_state is thread-safe (one writer, many readers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::crypto {

inline constexpr std::size_t max_roster_document_size = 1024 * 1024;
inline constexpr std::size_t max_roster_sites = 1000;
inline constexpr std::size_t max_site_id_size = 64;      // [a-z0-9][a-z0-9._-]*
inline constexpr std::size_t max_site_name_size = 128;   // UTF-8, no control characters
inline constexpr std::size_t max_consortium_size = 64;   // [A-Za-z0-9 ._-], as the CA name
inline constexpr std::size_t max_endpoint_size = 53;     // "[v6]:port" (dm2/crypto/endpoint.hpp)

struct site_entry {
  std::string site_id;             // stable short id, e.g. "chu-lyon"
  std::string name;                // for people, e.g. "CHU de Lyon"
  std::string certificate_sha256;  // lowercase hex SHA-256 of the site certificate's DER
  std::string dht_public_key;      // raw 32 bytes, Ed25519 (DHT node id, item signatures)
  std::string sealing_public_key;  // raw 32 bytes, X25519 (key shares sealed to the site)
  std::string https_endpoint;      // "IP:port" of its mutual-TLS API (dm2/crypto/endpoint.hpp)
  std::string dht_endpoint;        // "IP:port" of its DHT (UDP)
  std::int64_t expires_at = 0;     // seconds since the epoch; the entry is revoked from then on

  bool operator==(const site_entry&) const = default;
};

struct roster {
  std::string consortium;         // the consortium name (as in its CA)
  std::uint64_t version = 0;      // 0 only for a never-signed draft; signing increments it
  std::int64_t issued_at = 0;     // seconds since the epoch, set when signed
  std::vector<site_entry> sites;  // any order in memory; sorted by site_id when encoded

  bool operator==(const roster&) const = default;
};

struct roster_document {
  roster body;
  std::string signature;  // 64 raw bytes, or empty for an unsigned draft
};

// The canonical body. Errors: invalid_argument (a field breaks the limits, duplicates).
result<std::string> encode_roster(const roster& r);
// Errors: malformed_input (not canonical, a limit broken, duplicates).
result<roster> decode_roster(std::string_view body);
// SHA-256 of the canonical body (32 raw bytes). Errors: as encode_roster.
result<std::string> roster_hash(const roster& r);

// The document (signed or draft). Errors: invalid_argument.
result<std::string> encode_roster_document(const roster_document& d);
// Parses a document without checking its signature (drafts, inspection, fuzzing).
// Errors: malformed_input, too_large.
result<roster_document> decode_roster_document(std::string_view document);

// Signs `r` as it is (the caller sets version and issued_at) and returns the document.
// Errors: invalid_argument, malformed_input/unsupported (consortium key not Ed25519 PEM).
result<std::string> sign_roster(const roster& r, std::string_view consortium_key_pem);

// Decodes a signed document and checks its signature against the consortium's raw Ed25519
// public key. Errors: malformed_input, too_large, integrity_failure (unsigned, bad signature).
result<roster> verify_roster(std::string_view document, std::string_view consortium_public_key);

// Lookups that treat a missing or expired entry (expires_at <= now) as revoked.
// Errors: permission_denied (not on the roster, or expired).
result<site_entry> find_site_by_id(const roster& r, std::string_view site_id, std::int64_t now);
result<site_entry> find_site_by_fingerprint(const roster& r, std::string_view sha256_hex,
                                            std::int64_t now);
result<site_entry> find_site_by_dht_key(const roster& r, std::string_view dht_public_key,
                                        std::int64_t now);

// Checks a signature made by a current roster member's DHT key.
// Errors: permission_denied (not a member, or expired), integrity_failure (bad signature).
status verify_member_signature(const roster& r, std::string_view dht_public_key,
                               std::string_view message, std::string_view signature,
                               std::int64_t now);

// The node's current roster: starts empty (everyone revoked) and only ever moves forward.
class roster_state {
 public:
  // `consortium_public_key`: the raw 32-byte Ed25519 key that must have signed every roster.
  explicit roster_state(std::string consortium_public_key);
  ~roster_state();
  roster_state(const roster_state&) = delete;
  roster_state& operator=(const roster_state&) = delete;

  // Verifies `document` and adopts it if its version is higher than the current one. Returns
  // true if adopted, false if it is the current roster again (same version and hash).
  // Errors: those of verify_roster; invalid_argument (version 0); stale_version (older
  // version); conflict (same version with a different hash, or another consortium name).
  // On error nothing changes.
  result<bool> accept(std::string_view document);

  std::optional<roster> current() const;
  std::string current_document() const;  // empty before the first accept
  std::uint64_t version() const;         // 0 before the first accept
  std::string hash() const;              // roster_hash of the current roster; empty before

  result<site_entry> find_by_id(std::string_view site_id, std::int64_t now) const;
  result<site_entry> find_by_fingerprint(std::string_view sha256_hex, std::int64_t now) const;
  result<site_entry> find_by_dht_key(std::string_view dht_public_key, std::int64_t now) const;
  status verify_member_signature(std::string_view dht_public_key, std::string_view message,
                                 std::string_view signature, std::int64_t now) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::crypto
