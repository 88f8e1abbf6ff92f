#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "../records.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

// The owner's write of an index record (the node sets owner and version, signs, stores and
// replicates it). The policy lets the operator's certificate and site admins write the index of
// their own site (an LFN this site holds for another owner is not theirs to write); the allowed
// decision is audited in the same commit as the record.
http_response put(const route_context& c, const http_request& request) {
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  auto record = parse_ingest(request.body);
  if (!record) {
    spdlog::info("event=record_refused reason=\"{}\"", record.err().message);
    return error_response(record.err());
  }
  auto lfn = crypto::to_hex(record->lfn);
  std::string owner;
  if (auto copy = c.overlay->find(lfn)) owner = copy->owner;
  auto f = c.facts_for(who, access::data_class::index_attributes, access::action::write, "", owner);
  if (auto refused = c.authorize(who, f, "record_put", lfn, false)) return *refused;
  auto published = c.overlay->publish(std::move(*record), {0, who.actor(), "record_put", lfn, "allowed", ""});
  if (!published) return error_response(published.err());
  nlohmann::json body = {{"lfn", lfn}, {"version", published->version}};
  return http_response{201, "application/json", {}, body.dump()};
}

// The local copy of a record (index attributes), for whom the policy allows: sites, site admins,
// physicians, researchers under a grant, a patient's own; a user of another site with his site's
// assertion. Every decision is audited (actor, LFN; nothing nominative); a read that cannot be
// audited is not served.
http_response get(const route_context& c, const http_request& request) {
  auto lfn = crypto::from_hex(query_of(request.target)["lfn"]);
  if (!lfn || lfn->size() != storage::lfn_size)
    return error_response(fail(errc::invalid_argument, "give ?lfn=<32 hex digits>"));
  auto hex = crypto::to_hex(*lfn);
  std::optional<storage::index_record> record;
  if (auto copy = c.overlay->find(hex))
    if (auto decoded = dht::decode_replica(*copy)) record = std::move(*decoded);
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::index_attributes, access::action::read, hex,
                             record ? record->owner_site : "", "record_get"))
    return *refused;
  if (!record) return error_response(fail(errc::not_found, "no local copy of that record"));
  return http_response{200, "application/json", {}, record_json(*record).dump()};
}

}  // namespace

void add_record_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/records", [c](const http_request& r) { return put(c, r); });
  routes.add("GET", "/v1/records", [c](const http_request& r) { return get(c, r); });
}

}  // namespace dm2::node
