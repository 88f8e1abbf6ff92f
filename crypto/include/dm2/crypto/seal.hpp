// Sealing to a node's key: anyone holding a node's X25519 public key can encrypt to it; only
// the node can open. Used for key shares and any secret handed from one node to another.
//
// Construction (docs/crypto.md, "Sealed box"): a fresh ephemeral X25519 key per message;
// shared = X25519(ephemeral, recipient); key = HKDF-SHA256(ikm = shared,
// salt = ephemeral_pub || recipient_pub, info = "dm2 seal v1", 32 bytes);
// output = ephemeral_pub (32) || aead_seal(key, plaintext, associated_data)
//        = ephemeral_pub || nonce (12) || ciphertext || tag (16).
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dm2/crypto/aead.hpp"
#include "dm2/result.hpp"

namespace dm2::crypto {

inline constexpr std::size_t x25519_public_key_size = 32;
inline constexpr std::size_t seal_overhead = x25519_public_key_size + aead_overhead;  // 60

// Encrypts `plaintext` to the holder of the raw 32-byte X25519 public key `recipient`.
// Errors: invalid_argument (key not 32 bytes, or a low-order point), crypto_failure.
result<std::string> seal(std::string_view recipient, std::string_view plaintext,
                         std::string_view associated_data);

// Opens what seal() produced, with the recipient's X25519 private key (PKCS#8 PEM).
// Errors: malformed_input (not a PEM key), unsupported (not X25519), integrity_failure (any
// changed bit, wrong recipient, wrong associated data, short input).
result<std::string> open_sealed(std::string_view recipient_private_key_pem,
                                std::string_view sealed, std::string_view associated_data);

}  // namespace dm2::crypto
