// Sign-in sessions: a random 256-bit token handed to the user once; only its SHA-256 is stored
// (accounts family, session/<hex>), so a copy of the database signs nobody in. Sessions are
// short-lived and revocable; an account disabled meanwhile is refused by the caller, which looks
// the account up on every request. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dm2/result.hpp"
#include "dm2/storage/database.hpp"

namespace dm2::node::access {

struct session {
  std::string user_id;         // the account's pseudonym
  std::int64_t expires_at = 0;  // Unix seconds
};

class session_store {
 public:
  explicit session_store(storage::database& db) : db_(db) {}  // `db` outlives the store

  // A new token (64 hex digits) for `user_id`, valid until `expires_at`. Errors: storage_failure.
  result<std::string> open(const std::string& user_id, std::int64_t expires_at);
  // The live session of `token`; nullopt if unknown, malformed or expired (an expired one is
  // erased). Errors: storage_failure, integrity_failure.
  result<std::optional<session>> find(std::string_view token, std::int64_t now);
  // Forgets the token (no-op if unknown). Errors: storage_failure.
  status revoke(std::string_view token);

 private:
  storage::database& db_;
};

}  // namespace dm2::node::access
