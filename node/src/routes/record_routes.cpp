#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "../records.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

// The owner's write of an index record (the node sets owner and version, signs, stores and
// replicates it). Site certificates only: a record's content comes from ingest, not from users.
http_response put(const route_context& c, const http_request& request) {
  if (auto refused = c.refuse_unless_site(request)) return *refused;
  auto record = parse_ingest(request.body);
  if (!record) {
    spdlog::info("event=record_refused reason=\"{}\"", record.err().message);
    return error_response(record.err());
  }
  auto lfn = crypto::to_hex(record->lfn);
  auto published = c.overlay->publish(std::move(*record), {0, c.actor(request), "record_put", lfn, "allowed", ""});
  if (!published) return error_response(published.err());
  nlohmann::json body = {{"lfn", lfn}, {"version", published->version}};
  return http_response{201, "application/json", {}, body.dump()};
}

// The local copy of a record. Every read is audited (actor, LFN; nothing nominative).
http_response get(const route_context& c, const http_request& request) {
  if (auto refused = c.refuse_unless_site(request)) return *refused;
  auto lfn = crypto::from_hex(query_of(request.target)["lfn"]);
  if (!lfn || lfn->size() != storage::lfn_size)
    return error_response(fail(errc::invalid_argument, "give ?lfn=<32 hex digits>"));
  auto hex = crypto::to_hex(*lfn);
  std::optional<storage::index_record> record;
  if (auto copy = c.overlay->find(hex))
    if (auto decoded = dht::decode_replica(*copy)) record = std::move(*decoded);
  // A read that cannot be audited is not served.
  if (auto s = c.audit_request(request, "record_get", hex, record ? "allowed" : "not_found"); !s)
    return error_response(s.err());
  if (!record) return error_response(fail(errc::not_found, "no local copy of that record"));
  return http_response{200, "application/json", {}, record_json(*record).dump()};
}

}  // namespace

void add_record_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/records", [c](const http_request& r) { return put(c, r); });
  routes.add("GET", "/v1/records", [c](const http_request& r) { return get(c, r); });
}

}  // namespace dm2::node
