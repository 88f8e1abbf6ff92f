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

// As aead_seal, writing the result into `out` (resized to fit). Reusing one `out` across calls
// keeps its memory: no fresh allocation, zero-fill or page faults for every large message.
// On error `out` holds no plaintext-derived bytes.
status aead_seal_into(std::string_view key, std::string_view plaintext,
                      std::string_view associated_data, std::string& out);

// Decrypts what aead_seal produced with the same key and associated data.
// Errors: invalid_argument (key size), integrity_failure (any changed bit, wrong key or AD, short input).
result<std::string> aead_open(std::string_view key, std::string_view sealed,
                              std::string_view associated_data);

// As aead_open, writing the plaintext into `out` (resized to fit; reuse it as above). On error
// `out` is cleared.
status aead_open_into(std::string_view key, std::string_view sealed,
                      std::string_view associated_data, std::string& out);

}  // namespace dm2::crypto
