// Grants: a physician lets a researcher (or a colleague) read named LFNs — or a saved query
// result, stored as its LFNs at grant time — for some data classes, a purpose and a limited time
// (accounts family, grant/<id>). Like an album share token: scoped, expiring, revocable, listed.
// Every change is committed with its audit entry. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/database.hpp"
#include "policy.hpp"

namespace dm2::node::access {

inline constexpr std::size_t max_grant_lfns = 1000;
inline constexpr std::int64_t max_grant_lifetime_s = 90 * 86400;

struct grant {
  std::string id;                   // 32 hex digits
  std::string grantor;              // pseudonym of the physician who granted
  std::string grantee;              // pseudonym of the researcher or physician
  std::vector<std::string> lfns;    // 32-hex LFNs
  std::string query;                // the query whose result it was made from, or ""
  std::vector<data_class> classes;  // index_attributes, diagnoses, deidentified_image, key_share
  purpose why = purpose::research;
  std::int64_t created_at = 0;      // Unix seconds
  std::int64_t expires_at = 0;
  bool revoked = false;

  bool live(std::int64_t now) const { return !revoked && now < expires_at; }
  bool covers(std::string_view lfn, data_class c) const;
};

class grant_store {
 public:
  explicit grant_store(storage::database& db) : db_(db) {}  // `db` outlives it

  // Stores `g` under a fresh id (audit object set to it). Errors: invalid_argument (no or too
  // many LFNs, a bad LFN, no class, nominative or a management class, lifetime out of range),
  // storage_failure.
  result<grant> create(grant g, storage::audit_event audit);
  // Marks it revoked. Errors: not_found, storage_failure.
  result<grant> revoke(const std::string& id, storage::audit_event audit);
  // Errors: storage_failure, integrity_failure.
  result<std::optional<grant>> get(const std::string& id) const;
  // Grants given or received by `user_id` ("" = all). Errors: as get.
  result<std::vector<grant>> list(const std::string& user_id) const;
  // A live grant to `user_id` covering `lfn` and `c`, if any. Errors: as get.
  result<std::optional<grant>> covering(const std::string& user_id, std::string_view lfn, data_class c,
                                        std::int64_t now) const;

 private:
  status put(const grant& g, storage::audit_event audit);
  storage::database& db_;
};

}  // namespace dm2::node::access
