// Password hashing with Argon2id (RFC 9106) from libargon2 (Debian libargon2-dev). Hashes are
// stored in the PHC string form ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), which carries its
// own parameters: raising them later re-hashes nothing, old hashes still verify.
// Thread-safe (each call allocates its own memory: m KiB per concurrent call).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::node::access {

struct argon2_parameters {
  // OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): ~20-40 ms per sign-in on one core.
  std::uint32_t memory_kib = 19 * 1024;
  std::uint32_t passes = 2;
  std::uint32_t lanes = 1;
};

inline constexpr std::size_t max_password_bytes = 1024;  // longer inputs are refused, not hashed
inline constexpr std::size_t min_password_bytes = 10;

class password_hasher {
 public:
  // Also hashes a random dummy password now: verify_dummy() costs what a real verify costs.
  explicit password_hasher(argon2_parameters p = {});

  // A fresh salted hash. Errors: invalid_argument (length outside the limits), crypto_failure.
  result<std::string> hash(std::string_view password) const;
  // Whether `password` matches `encoded` (false for a malformed hash, never an error).
  bool verify(std::string_view encoded, std::string_view password) const;
  // Runs a verify against the dummy hash and returns false: for an unknown account, so that a bad
  // user and a bad password take the same time.
  bool verify_dummy(std::string_view password) const;

  // How many Argon2id verifications ran (verify and verify_dummy alike): the structural check
  // that every sign-in, whoever it names, pays for one.
  std::uint64_t verifications() const { return verifications_.load(); }
  // The dummy hash (of a random password nobody knows): same PHC parameters as hash() gives.
  const std::string& dummy_hash() const { return dummy_; }

 private:
  argon2_parameters params_;
  std::string dummy_;
  mutable std::atomic<std::uint64_t> verifications_{0};
};

}  // namespace dm2::node::access
