// Who may read the node's own status (GET /v1/overlay, GET /v1/ingest): the certificates that
// always could (`by_certificate`: this site's operator, and for the overlay its peers), or a
// signed-in site admin of this site, as the policy's node_status class says (docs/security.md).
#pragma once

#include <optional>

#include "dm2/node/router.hpp"
#include "route_context.hpp"

namespace dm2::node {

// The response to send instead (401, 403), or nullopt when the caller may read. A refused user
// is audited `node_status_read <path> refused: <reason>`; an allowed one is audited too.
inline std::optional<http_response> refuse_status_reader(
    const route_context& c, const http_request& request,
    std::optional<http_response> (route_context::*by_certificate)(const http_request&) const) {
  auto by_cert = (c.*by_certificate)(request);
  if (!by_cert) return std::nullopt;
  access::principal who;
  return c.admit(request, who, access::data_class::node_status, access::action::read, "", c.self_site(),
                 "node_status_read", path_of(request.target));
}

}  // namespace dm2::node
