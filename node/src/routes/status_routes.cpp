#include <nlohmann/json.hpp>

#include "dm2/node/version.hpp"
#include "routes.hpp"

namespace dm2::node {

void add_status_routes(router& routes, const route_context& c) {
  routes.add("GET", "/health", [c](const http_request&) {
    nlohmann::json body = {{"status", "ok"}, {"site", c.config->site_name}, {"version", version}};
    return http_response{200, "application/json", {}, body.dump()};
  });
  routes.add("GET", "/metrics", [c](const http_request&) {
    return http_response{200, "text/plain; version=0.0.4", {}, c.stats->render()};
  });
}

}  // namespace dm2::node
