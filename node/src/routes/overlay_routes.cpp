#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dm2/dht/message_codec.hpp"
#include "routes.hpp"
#include "status_access.hpp"

namespace dm2::node {
namespace {

http_response status(const route_context& c, const http_request& request) {
  if (auto refused = refuse_status_reader(c, request, &route_context::refuse_unless_site)) return *refused;
  auto report = c.overlay->report();
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& site : c.members->peers()) {
    bool live = std::find(report.live_sites.begin(), report.live_sites.end(), site.site_id) != report.live_sites.end();
    peers.push_back({{"site_id", site.site_id}, {"https", site.https_endpoint}, {"dht", site.dht_endpoint}, {"live", live}});
  }
  auto self = c.members->self();
  nlohmann::json body = {{"site_id", self ? self->site_id : ""},
                         {"dht_running", report.dht_running},
                         {"node_id", report.node_id},
                         {"dht_port", report.dht_port},
                         {"routing_table_size", report.routing_table_size},
                         {"roster_version", report.roster_version},
                         {"roster_peers", report.roster_peers},
                         {"live_peers", report.live_peers},
                         {"peers", peers},
                         {"stored_items", report.stored_items},
                         {"refused_queries", report.refused_queries},
                         {"refused_items", report.refused_items},
                         {"records_held", report.records_held},
                         {"replicas_owed", report.replicas_owed},
                         {"repair_rounds", report.repair_rounds},
                         {"repair_messages", report.repair_messages},
                         {"keys_owned", report.keys_owned},
                         {"placement_warnings", report.placement_warnings},
                         {"replicas", report.replicas},
                         {"survivable_failures", report.survivable_failures},
                         {"liveness_ms", report.liveness_ms},
                         {"query_traffic",
                          {{"messages_sent", report.query_messages_sent},
                           {"bytes_sent", report.query_bytes_sent},
                           {"messages_received", report.query_messages_received},
                           {"bytes_received", report.query_bytes_received},
                           {"tree_hop_ms", report.tree_hop_ms},
                           {"tree_buckets_resent", report.tree_buckets_resent}}}};
  return http_response{200, "application/json", {}, body.dump()};
}

// What this site holds, a page at a time: ?after=<lfn>&limit=<1..1000> (operators, repair tests).
http_response held_records(const route_context& c, const http_request& request) {
  if (auto refused = c.refuse_unless_site(request)) return *refused;
  auto params = query_of(request.target);
  std::size_t limit = 1000;
  if (params.count("limit")) {
    auto text = params["limit"];
    if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(text) < 1 || std::stoul(text) > 1000)
      return error_response(fail(errc::invalid_argument, "limit must be 1..1000"));
    limit = std::stoul(text);
  }
  auto page = c.overlay->held_records(params["after"], limit);
  nlohmann::json records = nlohmann::json::array();
  for (const auto& r : page) records.push_back({{"lfn", r.lfn}, {"version", r.version}, {"owner", r.owner}});
  nlohmann::json body = {{"records", records}};
  body["next"] = page.size() == limit ? nlohmann::json(page.back().lfn) : nlohmann::json(nullptr);
  return http_response{200, "application/json", {}, body.dump()};
}

// Replication traffic between sites: only roster members, identified by their certificate.
http_response message(const route_context& c, const http_request& request) {
  auto member = c.members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (!member) {
    spdlog::warn("event=peer_refused remote={} route=/v1/overlay/message", request.remote_address);
    return error_response(fail(errc::permission_denied, "this resource is for consortium sites"));
  }
  auto decoded = dht::decode_message(request.body);
  if (!decoded) {
    spdlog::warn("event=peer_message_refused site={} reason=\"{}\"", member->site_id, decoded.err().message);
    return error_response(decoded.err());
  }
  c.overlay->deliver(member->site_id, std::move(*decoded), request.body.size());
  return http_response{202, "application/json", {}, "{}"};
}

}  // namespace

void add_overlay_routes(router& routes, const route_context& c) {
  routes.add("GET", "/v1/overlay", [c](const http_request& r) { return status(c, r); });
  routes.add("GET", "/v1/overlay/records", [c](const http_request& r) { return held_records(c, r); });
  routes.add("POST", "/v1/overlay/message", [c](const http_request& r) { return message(c, r); });
}

}  // namespace dm2::node
