// A cross-site grant as its owning site signs it (docs/security.md, "Cross-site grants"): the
// owner of the LFNs signs, with its site Ed25519 DHT key, who granted (pseudonym), to whom (site
// and pseudonym), which LFNs and classes, for what purpose, until when, and the grant's id. The
// grantee's home site verifies it against the owner's key in its roster before keeping it.
//
// Wire form: base64(body) "." base64(signature), body = canonical JSON (sorted keys, no spaces):
//   {"classes":[..],"expires_at":s,"grantee":hex,"grantee_site":"site-2","grantor":hex,"id":hex,
//    "lfns":[hex..],"purpose":"research","site":"site-1","v":1}
// signature = Ed25519(site DHT key, "dm2-grant-v1" 0x00 body). At most max_grant_lfns LFNs, so a
// signed grant stays under max_signed_grant_bytes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "dm2/result.hpp"
#include "grants.hpp"

namespace dm2::node::access {

inline constexpr std::size_t max_signed_grant_bytes = 64 * 1024;

// Signs `g` as made by `site` (its owner). Errors: invalid_argument (a field out of its limits:
// grant_store::check, no id, no grantee site), those of crypto::sign.
result<std::string> sign_grant(const grant& g, std::string_view site, std::string_view dht_key_pem);

struct verified_grant {
  std::string site;  // the signing (owning) site
  grant g;           // id, grantor, grantee, grantee_site, lfns, classes, purpose, expires_at
};

// The grant in `wire`, signed by the site it names, whose raw DHT key `key_of` finds (a current
// roster member). Errors (permission_denied, message = the reason): "malformed" (too long, not
// the canonical form, a field out of its limits), "not_a_member", "forged".
result<verified_grant> verify_grant(std::string_view wire,
                                    const std::function<result<std::string>(std::string_view site)>& key_of);

}  // namespace dm2::node::access
