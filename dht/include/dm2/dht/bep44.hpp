// BEP44 mutable-item signatures, apart from the overlay: the consortium key that signs roster
// announcements stays with its operator (the CLI signs), while nodes only relay the signed item
// (overlay::put_signed_mutable). Values are raw bytes, bencoded as one string as put_mutable does.
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::dht {

// What BEP44 signs: ["4:salt" <len>:<salt>] "3:seqi" <seq> "e1:v" <len>:<value>.
std::string bep44_signing_input(std::string_view salt, std::int64_t seq, std::string_view value);

// The 64-byte Ed25519 signature of the item. Errors: malformed_input/unsupported (not an Ed25519
// PEM private key), crypto_failure.
result<std::string> bep44_signature(std::string_view private_key_pem, std::string_view salt,
                                    std::string_view value, std::int64_t seq);

// Checks a signature as a receiving DHT node would. Errors: invalid_argument (key not 32 bytes),
// integrity_failure (wrong signature).
status verify_bep44_signature(std::string_view public_key, std::string_view salt,
                              std::string_view value, std::int64_t seq, std::string_view signature);

}  // namespace dm2::dht
