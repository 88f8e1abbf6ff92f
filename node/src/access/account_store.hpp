// User accounts of this site, in the database's `accounts` family (sealed at rest):
//   user/<name> -> account JSON, uid/<pseudonym> -> name.
// An account's id is its pseudonym: 128 random bits (hex), never derived from the name; audit
// entries and assertions name users by it. Every change is committed together with its audit
// entry (one transaction). Thread-safe (the database is; a mutex orders read-modify-writes).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/database.hpp"
#include "policy.hpp"

namespace dm2::node::access {

inline constexpr std::size_t max_user_name = 64;  // [a-z0-9._-], starting with a letter or digit

struct account {
  std::string id;             // pseudonym, 32 hex digits
  std::string name;           // sign-in name (never logged; may be nominative for a patient)
  role who = role::physician;
  std::string password_hash;  // Argon2id PHC string; empty for an account signed in elsewhere (OIDC)
  bool disabled = false;
  std::string patient_ref;    // patients only: the opaque reference of their nominative record here
  std::int64_t created_at = 0;  // Unix seconds
};

// Whether `name` is a valid sign-in name.
bool valid_user_name(std::string_view name);

class account_store {
 public:
  explicit account_store(storage::database& db) : db_(db) {}  // `db` outlives the store

  // Errors: storage_failure, integrity_failure.
  result<std::optional<account>> by_name(std::string_view name) const;
  result<std::optional<account>> by_id(std::string_view id) const;
  result<std::vector<account>> list() const;

  // Stores a new account (a fresh id is set) with `audit` (its object set to the id). Returns the
  // stored account. Errors: invalid_argument (name, role site), conflict (the name is taken),
  // storage_failure.
  result<account> create(account a, storage::audit_event audit);
  // Sets `disabled` with `audit`. Errors: not_found, storage_failure.
  result<account> set_disabled(std::string_view name, bool disabled, storage::audit_event audit);

 private:
  storage::database& db_;
  std::mutex mutex_;
};

}  // namespace dm2::node::access
