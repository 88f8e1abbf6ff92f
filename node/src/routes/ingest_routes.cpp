// POST /v1/ingest (start a run) and GET /v1/ingest (what the ingest did and is doing): this
// site's own certificate — the operator's CLI — and, to read, a signed-in site admin of this site
// (the desk); another site has no business starting or watching this site's PACS ingest. Series
// are named by LFN only.
#include <nlohmann/json.hpp>

#include "routes.hpp"
#include "status_access.hpp"

namespace dm2::node {
namespace {
using json = nlohmann::json;

json counts_json(const ingest_counts& c) {
  return {{"series_seen", c.series_seen},       {"series_fetched", c.series_fetched},
          {"series_indexed", c.series_indexed}, {"series_unchanged", c.series_unchanged},
          {"series_failed", c.series_failed},   {"bytes_fetched", c.bytes_fetched},
          {"bytes_stored", c.bytes_stored}};
}

json run_json(const ingest_run& r) {
  json failures = json::array();
  for (const auto& f : r.failures) failures.push_back({{"lfn", f.lfn}, {"stage", f.stage}, {"reason", f.reason}});
  json series = json::array();
  for (const auto& p : r.in_progress)
    series.push_back({{"lfn", p.lfn},
                      {"stage", p.stage},
                      {"instances_done", p.instances_done},
                      {"instances_total", p.instances_total},
                      {"bytes", p.bytes}});
  json out = {{"id", r.id},         {"trigger", r.trigger},        {"state", r.state},
              {"started_at", r.started_at}, {"finished_at", r.finished_at}, {"counts", counts_json(r.counts)},
              {"failures", failures}, {"series", series}};
  if (!r.error.empty()) out["error"] = r.error;
  return out;
}

json report_json(const ingest_report& r) {
  json out = {{"pacs_configured", r.pacs_configured},
              {"sync_period_s", r.sync_period_s},
              {"totals", counts_json(r.totals)},
              {"current_run", r.current ? run_json(*r.current) : json(nullptr)},
              {"last_run", r.last ? run_json(*r.last) : json(nullptr)}};
  return out;
}

// The optional body: {"rescan_since":"YYYYMMDD"} for a re-scan (docs/ingest.md, "When it runs").
// Errors: malformed_input (not a JSON object), invalid_argument (another field, not a string).
result<std::string> rescan_since_of(const std::string& body) {
  if (body.empty()) return std::string();
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return fail(errc::malformed_input, "the body is not a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "rescan_since" || !value.is_string())
      return fail(errc::invalid_argument, "unknown field or wrong type: " + key + " (only rescan_since, a string)");
  return j.value("rescan_since", "");
}

http_response start(const route_context& c, const http_request& request) {
  if (auto refused = c.refuse_unless_self(request)) return *refused;
  auto rescan_since = rescan_since_of(request.body);
  if (!rescan_since) return error_response(rescan_since.err());
  auto id = c.ingest->start_run("operator", *rescan_since);
  if (auto s = c.audit_request(request, "ingest_run", id ? *id : "", id ? "started" : "refused"); !s)
    return error_response(s.err());
  if (!id) return error_response(id.err());
  json body = {{"id", *id}, {"location", "/v1/ingest"}};
  return http_response{202, "application/json", {}, body.dump()};
}

http_response show(const route_context& c, const http_request& request) {
  if (auto refused = refuse_status_reader(c, request, &route_context::refuse_unless_self)) return *refused;
  return http_response{200, "application/json", {}, report_json(c.ingest->report()).dump()};
}

}  // namespace

void add_ingest_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/ingest", [c](const http_request& r) { return start(c, r); });
  routes.add("GET", "/v1/ingest", [c](const http_request& r) { return show(c, r); });
}

}  // namespace dm2::node
