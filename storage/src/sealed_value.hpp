// Encryption at rest: every stored value is sealed with AES-256-GCM under the node's value key,
// with associated data binding the family, the RocksDB key and (for index records) the version,
// so a value copied under another key, family or version fails to open.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dm2/result.hpp"
#include "dm2/storage/families.hpp"

namespace dm2::storage::detail {

inline constexpr char value_format = 0x01;  // first byte of every sealed value

// 0x01 || [version, 8 bytes big-endian, when given] || nonce || ciphertext || tag.
// Errors: crypto_failure.
result<std::string> seal_value(std::string_view key, family f, std::string_view db_key,
                               std::string_view plaintext,
                               std::optional<std::uint64_t> version = std::nullopt);
// Errors: integrity_failure (changed, moved, truncated, wrong key or format).
result<std::string> open_value(std::string_view key, family f, std::string_view db_key,
                               std::string_view stored, bool versioned = false);
// The version prefix of a versioned sealed value (without decrypting). Errors: integrity_failure.
result<std::uint64_t> sealed_version(std::string_view stored);

}  // namespace dm2::storage::detail
