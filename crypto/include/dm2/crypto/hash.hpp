// Hashes, MACs, key derivation and randomness. Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

// `n` bytes from OpenSSL's CSPRNG. Aborts the process if the generator fails: nothing secure
// can continue without randomness.
std::string random_bytes(std::size_t n);

std::string sha256(std::string_view data);                      // 32 raw bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes

// HKDF-SHA256 (RFC 5869). Errors: invalid_argument (length 0 or > 8160), crypto_failure.
result<std::string> hkdf_sha256(std::string_view input_key, std::string_view salt,
                                std::string_view info, std::size_t length);

std::string to_hex(std::string_view bytes);  // lowercase
// Errors: malformed_input (odd length or a non-hex character).
result<std::string> from_hex(std::string_view hex);

std::string to_base64(std::string_view bytes);  // RFC 4648 standard alphabet, with padding
// Strict inverse of to_base64: padding required, no whitespace, no URL-safe alphabet, unused
// trailing bits zero. Errors: malformed_input.
result<std::string> from_base64(std::string_view text);

// Constant-time comparison of two byte strings (false if sizes differ).
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace dm2::crypto
