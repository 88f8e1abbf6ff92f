#include "route_context.hpp"

#include <spdlog/spdlog.h>

namespace dm2::node {

std::optional<http_response> route_context::refuse_unless_site(const http_request& request) const {
  if (!request.peer_certificate_fingerprint.empty() &&
      request.peer_certificate_fingerprint == identity->certificate_fingerprint)
    return std::nullopt;
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (member) return std::nullopt;
  spdlog::warn("event=peer_refused remote={} fingerprint={} reason=\"{}\"", request.remote_address,
               request.peer_certificate_fingerprint.empty() ? "none" : request.peer_certificate_fingerprint,
               member.err().message);
  return error_response(fail(errc::permission_denied, "this resource is for consortium sites"));
}

std::optional<http_response> route_context::refuse_unless_self(const http_request& request) const {
  if (!request.peer_certificate_fingerprint.empty() &&
      request.peer_certificate_fingerprint == identity->certificate_fingerprint)
    return std::nullopt;
  spdlog::warn("event=request_refused remote={} fingerprint={} reason=\"not this site's certificate\"",
               request.remote_address,
               request.peer_certificate_fingerprint.empty() ? "none" : request.peer_certificate_fingerprint);
  return error_response(fail(errc::permission_denied, "this resource is for this site's own operator"));
}

std::string route_context::actor(const http_request& request) const {
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (member) return "site:" + member->site_id;
  return "cert:" + request.peer_certificate_fingerprint;
}

status route_context::audit_request(const http_request& request, std::string action, std::string object,
                                    std::string decision) const {
  return audit->append({0, actor(request), std::move(action), std::move(object), std::move(decision), ""});
}

}  // namespace dm2::node
