// The audit log's entries and the signing seam. An entry says who did what to which object and
// what was decided; it is hash-chained to the previous entry and signed by the node. Entries
// must never carry nominative data (patient names, IDs, birth dates): objects are LFNs, site ids
// and user ids. Pure functions and plain structs; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::storage {

inline constexpr std::size_t audit_hash_size = 32;  // SHA-256

struct audit_limits {
  static constexpr std::size_t field = 256;    // actor, action, object, decision
  static constexpr std::size_t detail = 4096;  // free text
  static constexpr std::size_t signature = 256;
};

// What the caller fills in (appended through a transaction).
struct audit_event {
  std::int64_t time_ms = 0;  // Unix time in milliseconds; 0 = stamped with the system clock at commit
  std::string actor;         // "user:alice@site-a", "site:site-b", "node"
  std::string action;        // "ingest", "share_release", "query"...
  std::string object;        // an LFN in hex, a site id...
  std::string decision;      // "allowed", "denied: no grant"...
  std::string detail;        // free text, never nominative
  bool operator==(const audit_event&) const = default;
};

// What is stored: the event, its position, the previous entry's hash and the node's signature.
struct audit_entry {
  std::uint64_t sequence = 0;  // 0, 1, 2... equal to its key
  audit_event event;
  std::string previous_hash;   // SHA-256 of the previous entry's encoding; 32 zero bytes for entry 0
  std::string signature;       // the node's signature over signed_payload()
  bool operator==(const audit_entry&) const = default;
};

// The signing seam: the node wires Ed25519 (crypto/signature.hpp) with its site key; tests may
// use any pair. sign returns the signature of `message`; verify returns ok only for a valid one.
struct audit_signer {
  std::function<result<std::string>(std::string_view message)> sign;
  std::function<status(std::string_view message, std::string_view signature)> verify;
  explicit operator bool() const { return sign && verify; }
};

// The node's signer: Ed25519 (crypto/signature.hpp) with its site key (PKCS#8 PEM); verify
// checks against that key's raw public key. Errors: malformed_input, unsupported (not Ed25519).
result<audit_signer> ed25519_audit_signer(std::string private_key_pem);

// Errors: malformed_input (a field over its limit or containing NUL).
status validate(const audit_event& e);
std::string encode_audit_entry(const audit_entry& e);
// Strict: truncation, trailing bytes, a field over its limit -> malformed_input.
result<audit_entry> decode_audit_entry(std::string_view bytes);
// The bytes the node signs: the encoding without the signature, with a domain prefix.
std::string signed_payload(const audit_entry& e);
// SHA-256 of encode_audit_entry(e): what the next entry's previous_hash must be.
std::string chain_hash(const audit_entry& e);

// The outcome of walking the chain (database::verify_audit).
struct audit_report {
  std::uint64_t entries = 0;                // entries read
  std::optional<std::uint64_t> first_bad;   // index of the first changed/removed/reordered/inserted entry
  std::string reason;                       // why that entry is bad; empty when ok
  bool ok() const { return !first_bad.has_value(); }
};

}  // namespace dm2::storage
