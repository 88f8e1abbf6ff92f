// Grants: a physician lets a researcher (or a colleague) read named LFNs — or a saved query
// result, stored as its LFNs at grant time — for some data classes, a purpose and a limited time
// (accounts family, grant/<id>). Like an album share token: scoped, expiring, revocable, listed.
// Every change is committed with its audit entry. Thread-safe.
//
// Cross-site grants (docs/security.md, "Cross-site grants"): the owning site of the LFNs grants a
// user of another member site (grantee_site); it keeps the grant and decides every use of it. The
// grantee's home site keeps the owner-signed copy it received (issuer = the owner) so that the
// user sees it and the site knows whom to ask.
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
  std::string grantee_site;         // the grantee's home site when it is another site, else ""
  std::string issuer;               // the owning site that made and signed it, when received; else ""
  std::string signed_grant;         // received: the issuer's signed grant (signed_grant.hpp), as received
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

// Why a grant does not let (user of `site`, `why`) read `c` of `lfn` now: "" when it does, else
// "other_user", "revoked", "expired", "not_covered" or "purpose". `site` is "" for a user of the
// site that keeps the grant.
std::string_view grant_refusal(const grant& g, std::string_view user, std::string_view site, std::string_view lfn,
                               data_class c, purpose why, std::int64_t now);

class grant_store {
 public:
  explicit grant_store(storage::database& db) : db_(db) {}  // `db` outlives it

  // Whether `g` may be stored. Errors: invalid_argument (no or too many LFNs, a bad LFN, no class,
  // nominative or a management class, lifetime out of range, a bad grantee or site id).
  static status check(const grant& g);
  // Stores `g` (checked) under its id, or a fresh one when it has none (audit object set to it).
  // Errors: those of check, conflict (that id is taken), storage_failure.
  result<grant> create(grant g, storage::audit_event audit);
  // Marks it revoked. Errors: not_found, storage_failure.
  result<grant> revoke(const std::string& id, storage::audit_event audit);
  // Errors: storage_failure, integrity_failure.
  result<std::optional<grant>> get(const std::string& id) const;
  // Grants given or received by `user_id` ("" = all). Errors: as get.
  result<std::vector<grant>> list(const std::string& user_id) const;
  // A live grant to `user_id`, a user of this site, covering `lfn` and `c`, if any. Errors: as get.
  result<std::optional<grant>> covering(const std::string& user_id, std::string_view lfn, data_class c,
                                        std::int64_t now) const;

 private:
  status put(const grant& g, storage::audit_event audit);
  storage::database& db_;
};

}  // namespace dm2::node::access
