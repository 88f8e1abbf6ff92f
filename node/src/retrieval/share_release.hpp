// A key share released for one retrieval (docs/security.md, "Retrieval"): the holder seals the
// share (crypto::seal) to the requesting site's roster X25519 key, with associated data naming
// the LFN and the nonce of the user's assertion, so only that site opens it and only as the
// answer to that request. The owning site takes part as one more holder: it derives a share of
// its own index (n + 1, never placed on another site) from the owned key, so t-of-n still holds
// with the owner counted once. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/dht/owned_keys.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

std::string release_associated_data(std::string_view lfn, std::string_view nonce);
// Errors: those of crypto::seal.
result<std::string> seal_release(std::string_view recipient_public, std::string_view raw_share,
                                 std::string_view lfn, std::string_view nonce);
// Errors: those of crypto::open_sealed (integrity_failure: not for this site or this request).
result<std::string> open_release(std::string_view private_key_pem, std::string_view sealed,
                                 std::string_view lfn, std::string_view nonce);

// The owner's own share of `k` (index n + 1); nullopt when n is 255 (no index left).
std::optional<std::string> owner_share(const dht::owned_key& k);

// The key from shares gathered from several holders: duplicates (one index twice) and shares
// that do not parse are set aside. Errors: unavailable (fewer than t distinct shares: the message
// says how many of how many), integrity_failure (the shares do not belong together).
result<std::string> combine_gathered(const std::vector<std::string>& raw_shares);

}  // namespace dm2::node
