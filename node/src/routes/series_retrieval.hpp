// A user's retrieval of a series at his home site (docs/security.md, "Retrieval"), shared by
// GET /v1/series/{lfn} and DICOMweb's WADO-RS (docs/dicomweb.md): authentication, the policy
// (image and key share, both audited), the owner's sealed files and the key shares over mutual
// TLS under one signed assertion, then the answer streamed in `form`.
#pragma once

#include <string>

#include "../retrieval/series_answer.hpp"
#include "route_context.hpp"

namespace dm2::node {

// `lfn`: 32 lowercase hex digits. The response to send: 200 with a streamed body, or the
// error's (401, 403, 404, 503...).
http_response retrieve_series(const route_context& c, const http_request& request,
                              const std::string& lfn, series_form form);

}  // namespace dm2::node
