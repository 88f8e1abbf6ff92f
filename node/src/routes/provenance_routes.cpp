// GET /v1/provenance/{id}: what produced a stage-2 score (docs/similarity.md, "Provenance"). The
// computing site answers from its result cache; the home site of the query answers from the copy
// the owner returned with the score. A provenance names a series (LFN) and its version: reading
// it is reading that series' index attributes (policy rows *.index.read), audited under the LFN.
#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace dm2::node {
namespace {

constexpr const char* provenance_prefix = "/v1/provenance/";

http_response provenance(const route_context& c, const http_request& request) {
  auto id = lfn_in(request.target, provenance_prefix);  // a provenance id has an LFN's form
  if (id.empty()) return error_response(fail(errc::invalid_argument, "give /v1/provenance/<32 lowercase hex digits>"));
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto found = c.results ? c.results->find(id) : result<std::optional<provenance_record>>(std::optional<provenance_record>{});
  if (!found) return error_response(found.err());
  if (!*found) return error_response(fail(errc::not_found, "no provenance with that id here"));
  const auto& p = **found;
  auto f = c.facts_for(*who, access::data_class::index_attributes, access::action::read, p.lfn, p.computed_by);
  if (auto refused = c.authorize(*who, f, "provenance_read", p.lfn)) return *refused;
  auto body = nlohmann::json::parse(encode_provenance(p));
  body["answered_by"] = c.self_site();
  return http_response{200, "application/json", {}, body.dump()};
}

}  // namespace

void add_provenance_routes(router& routes, const route_context& c) {
  routes.add_prefix("GET", provenance_prefix, [c](const http_request& r) { return provenance(c, r); });
}

}  // namespace dm2::node
