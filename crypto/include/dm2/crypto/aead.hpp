// AES-256-GCM authenticated encryption of one message. Binary data travels in std::string.
// The associated data is authenticated but not encrypted: callers bind what the ciphertext is
// (record id, version, data class) so a ciphertext cannot be replayed as another record.
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

inline constexpr std::size_t aead_key_size = 32;    // AES-256
inline constexpr std::size_t aead_nonce_size = 12;  // 96-bit random nonce per message
inline constexpr std::size_t aead_tag_size = 16;
inline constexpr std::size_t aead_overhead = aead_nonce_size + aead_tag_size;

// A fresh random key (OpenSSL's CSPRNG).
std::string generate_aead_key();

// Encrypts `plaintext`: the result is nonce || ciphertext || tag.
// Errors: invalid_argument (key is not 32 bytes), crypto_failure.
result<std::string> aead_seal(std::string_view key, std::string_view plaintext,
                              std::string_view associated_data);

// Decrypts what aead_seal produced with the same key and associated data.
// Errors: invalid_argument (key size), integrity_failure (any changed bit, wrong key or AD, short input).
result<std::string> aead_open(std::string_view key, std::string_view sealed,
                              std::string_view associated_data);

}  // namespace dm2::crypto
