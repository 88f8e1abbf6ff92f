#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace dm2::node {

void add_roster_routes(router& routes, const route_context& c) {
  routes.add("GET", "/v1/roster", [c](const http_request& request) {
    if (auto refused = c.refuse_unless_site(request)) return *refused;
    if (!c.members->enabled()) return error_response(fail(errc::not_found, "this node has no roster"));
    return http_response{200, "application/json", {}, c.members->document()};
  });
  // Anyone may offer a roster: it is adopted only if the consortium signed it and it is newer,
  // and its announcement is relayed only if the consortium signed that too (roster_service).
  routes.add("POST", "/v1/roster", [c](const http_request& request) {
    auto offered = c.roster->offer(request.body);
    if (!offered) return error_response(offered.err());
    nlohmann::json body = {{"adopted", offered->adopted},
                           {"version", offered->version},
                           {"announcement", offered->announcement_queued ? "queued" : "none"}};
    return http_response{200, "application/json", {}, body.dump()};
  });
}

}  // namespace dm2::node
