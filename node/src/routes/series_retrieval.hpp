// A user's retrieval of a series at his home site (docs/security.md, "Retrieval"), shared by
// GET /v1/series/{lfn} and DICOMweb's WADO-RS (docs/dicomweb.md): authentication, the policy
// (image and key share, both audited), the owner's sealed files and the key shares over mutual
// TLS under one signed assertion, then the answer streamed in `form`. And the pieces the
// desk's thumbnail shares with it (thumbnail_routes.cpp: the owner renders, the home site asks).
#pragma once

#include <string>
#include <vector>

#include "../retrieval/series_answer.hpp"
#include "route_context.hpp"

namespace dm2::node {

// `lfn`: 32 lowercase hex digits. The response to send: 200 with a streamed body, or the
// error's (401, 403, 404, 503...).
http_response retrieve_series(const route_context& c, const http_request& request,
                              const std::string& lfn, series_form form);

// The owning site of an LFN, from the local copy of its index record ("" without one).
std::string owner_of(const route_context& c, const std::string& lfn);

// The error a peer answered with, as this site answers it (its message kept): 400, 403, 404,
// else unavailable (503).
error peer_error(const client_response& r, const std::string& who);

// The assertion the home site signs for one request to other sites: this user, this LFN, these
// classes; what it vouches for (care team, own record, a grant) from the facts decided here.
result<std::string> retrieval_assertion(const route_context& c, const access::principal& who,
                                        const access::facts& f, const std::string& lfn,
                                        const std::string& nonce, std::vector<access::data_class> classes);

}  // namespace dm2::node
