// The HTTP surface of similarity queries (docs/api.md, "Queries"): POST /v1/queries starts one,
// GET /v1/queries/{id} polls its progress and ranked hits. Handlers are plain functions over the
// overlay service and the query book.
#pragma once

#include <functional>
#include <optional>

#include "dm2/node/router.hpp"
#include "overlay_service.hpp"
#include "query_book.hpp"

namespace dm2::node {

struct query_routes_context {
  // The 403 for a caller that is neither this site nor a roster member; nullopt to proceed.
  std::function<std::optional<http_response>(const http_request&)> refuse_unless_site;
  overlay_service* overlay = nullptr;  // outlive the routes
  query_book* book = nullptr;
};

void add_query_routes(router& routes, query_routes_context context);

}  // namespace dm2::node
