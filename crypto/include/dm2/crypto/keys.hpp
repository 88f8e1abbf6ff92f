// Key generation and public-key extraction. Keys cross the API as PEM text (PKCS#8 for private
// keys, SubjectPublicKeyInfo for public keys). Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

enum class key_type {
  ecdsa_p256,  // TLS certificates (every TLS client accepts P-256)
  ed25519,     // signatures: DHT items, roster, audit chain, assertions
  x25519,      // sealing key material to a node
};

// A new private key as PKCS#8 PEM. Errors: crypto_failure.
result<std::string> generate_private_key(key_type type);

// The type of a PEM private key. Errors: malformed_input, unsupported.
result<key_type> private_key_type(std::string_view private_key_pem);

// The public half of a PEM private key, as SubjectPublicKeyInfo PEM. Errors: malformed_input.
result<std::string> public_key_pem(std::string_view private_key_pem);

// The raw 32-byte public key of an Ed25519 or X25519 PEM private key.
// Errors: malformed_input, unsupported (other key types).
result<std::string> raw_public_key(std::string_view private_key_pem);

}  // namespace dm2::crypto
