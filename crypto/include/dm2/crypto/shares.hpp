// Threshold secret sharing (Shamir over GF(2^8), via libgfshare): a secret split into n shares,
// any t of which recover it and fewer than t reveal nothing about it.
//
// Share format (docs/crypto.md, "Key shares"): version (1 byte, = 1) || threshold t (1 byte) ||
// index x (1 byte, 1..255) || share of (secret || first 16 bytes of SHA-256(secret)).
// The hash travels inside the shared value, so t-1 holders learn nothing from it, and combine()
// recognises a changed, forged or mismatched share instead of returning a wrong secret.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::crypto {

inline constexpr std::uint8_t share_format_version = 1;
inline constexpr std::size_t share_header_size = 3;
inline constexpr std::size_t share_check_size = 16;
inline constexpr std::size_t max_shared_secret_size = 64 * 1024;

struct share_info {
  std::uint8_t threshold = 0;  // t: shares needed to recover
  std::uint8_t index = 0;      // x: this share's evaluation point, 1..255
  std::size_t secret_size = 0;
};

// Splits `secret` (1..64 KiB) into n encoded shares with indexes 1..n (share i has index i+1).
// Errors: invalid_argument (not 1 < t <= n <= 255, empty or oversized secret).
result<std::vector<std::string>> split_secret(std::string_view secret, unsigned threshold,
                                              unsigned count);

// Share `index` (1..255) of `secret` split t-of-n on a polynomial whose coefficients are derived
// from `seed` (HMAC-SHA256 under the seed; the seed is as secret as the secret): the same
// (secret, t, seed) always gives the same share for an index, so an owner that keeps them can
// re-create any share — the same bytes a share repair gives that index — without keeping the
// split. The shares combine with combine_shares and repair like split_secret's.
// Errors: invalid_argument (t outside 2..255, index 0, empty or oversized secret, seed shorter
// than 16 bytes).
result<std::string> derive_share(std::string_view secret, unsigned threshold, std::uint8_t index,
                                 std::string_view seed);

// Recovers the secret from at least t shares of one split (all given shares are used).
// Errors: malformed_input (a share too short, unknown version, index 0, mixed thresholds or
// sizes), invalid_argument (fewer than t shares, a duplicate index), integrity_failure (the
// shares do not belong together, or one was changed).
result<std::string> combine_shares(const std::vector<std::string>& shares);

// Reads the header of one encoded share. Errors: malformed_input.
result<share_info> inspect_share(std::string_view share);

// Splits `secret` into recipients.size() shares (t of them needed) and seals share i to the raw
// X25519 public key recipients[i] with seal.hpp, binding `associated_data` (e.g. the key id).
// Each holder opens its own with open_sealed(its key, sealed, associated_data).
// Errors: those of split_secret and seal.
result<std::vector<std::string>> split_and_seal(std::string_view secret, unsigned threshold,
                                                const std::vector<std::string>& recipients,
                                                std::string_view associated_data);

}  // namespace dm2::crypto
