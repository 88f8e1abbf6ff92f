// Ed25519 signatures (RFC 8032, pure Ed25519): DHT items, the roster, the audit chain, assertions.
// Private keys cross the API as PKCS#8 PEM (keys.hpp makes them), public keys as their raw
// 32 bytes (what the roster lists and what the DHT node id derives from). Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

inline constexpr std::size_t ed25519_public_key_size = 32;
inline constexpr std::size_t ed25519_signature_size = 64;

// Signs `message` with an Ed25519 private key; returns the 64-byte signature.
// Errors: malformed_input (not a PEM private key), unsupported (not Ed25519), crypto_failure.
result<std::string> sign(std::string_view private_key_pem, std::string_view message);

// An Ed25519 private key parsed once, for signing many messages: parsing the PEM costs about ten
// times the signature itself (430 vs 35 us here), which `sign` above pays on every call.
// Copies share the key; const use from several threads at once is safe.
class signing_key {
 public:
  // Errors: malformed_input (not a PEM private key), unsupported (not Ed25519).
  static result<signing_key> from_pem(std::string_view private_key_pem);
  // The 64-byte signature of `message`. Errors: crypto_failure.
  result<std::string> sign(std::string_view message) const;

 private:
  struct impl;
  explicit signing_key(std::shared_ptr<const impl> p);
  std::shared_ptr<const impl> impl_;
};

// Checks `signature` over `message` against a raw 32-byte Ed25519 public key.
// Errors: invalid_argument (public key not 32 bytes or not a valid point),
// integrity_failure (wrong size, wrong key, changed message or signature).
status verify(std::string_view public_key, std::string_view message, std::string_view signature);

}  // namespace dm2::crypto
