// Whether a cross-site grant holds, asked where it is decided: at the LFN's owner, the only site
// whose grant store says whether a grant it made is live (docs/security.md, "Cross-site grants").
// The owner reads its store; a share holder (or any other site) asks the owner on every request,
// over mutual TLS, GET /v1/grants/{id}/status: no copy, no cache, so a revocation bites at once.
#pragma once

#include <string>
#include <string_view>

#include "route_context.hpp"

namespace dm2::node {

// The owner's word on grant `id` for (`user` of `site`, `why`) reading `what` of `lfn`: "" when
// this site made it and it is live and covers that; else the reason ("unknown", "other_user",
// "revoked", "expired", "not_covered", "purpose", or a storage error's message).
std::string owner_grant_refusal(const route_context& c, const std::string& id, std::string_view user,
                                std::string_view site, std::string_view lfn, access::data_class what,
                                access::purpose why);

// Whether `owner_site`, the owner of `lfn`, vouches now for the grant assertion `a` names, made
// there for a.user of a.site: this site's store when it is the owner, else the owner's answer (no
// answer, or any other than live: no). Logs the reason of a no.
bool cross_site_grant_live(const route_context& c, const access::assertion& a, std::string_view lfn,
                           access::data_class what, std::string_view owner_site);

}  // namespace dm2::node
