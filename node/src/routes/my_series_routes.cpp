// GET /v1/me/series: the series a signed-in person may pick at his home site, with their index
// attributes: a physician's, those of the patients of his care teams; a patient's, his own. The
// page of the clinician's desk lists them to query by (by_series) or to open. Each series listed
// is a policy decision, audited (series_list), so a patient sees who listed his.
#include <map>
#include <nlohmann/json.hpp>

#include "../records.hpp"
#include "owned_series.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_listed = 200;

http_response mine(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  const bool physician = who->who == access::role::physician;
  const bool patient = who->who == access::role::patient && !who->patient_ref.empty();
  if (who->asserted || !who->person || (!physician && !patient))
    return error_response(fail(errc::permission_denied, "only a physician or a patient at his home site has series to list"));
  std::map<std::string, bool> in_team;  // patient ref -> the physician is in its care team
  auto wanted = [&](const std::string& lfn) {
    auto ref = c.patient_of(lfn);
    if (!ref) return false;
    if (patient) return *ref == who->patient_ref;
    auto [known, inserted] = in_team.try_emplace(*ref, false);
    if (inserted) {
      auto member = c.access->teams().contains(*ref, who->id);
      known->second = member && *member;
    }
    return known->second;
  };
  json series = json::array();
  for (const auto& r : owned_series_where(c, wanted, max_listed)) {
    auto copy = c.overlay->find(r.lfn);  // the listing carries no payloads
    auto record = copy ? dht::decode_replica(*copy) : result<storage::index_record>(fail(errc::not_found, ""));
    if (!record) continue;
    auto f = c.facts_for(*who, access::data_class::index_attributes, access::action::read, r.lfn, r.owner);
    if (c.authorize(*who, f, "series_list", r.lfn)) continue;  // refused, and audited
    auto shown = record_json(*record);
    series.push_back({{"lfn", r.lfn}, {"version", r.version}, {"attributes", shown["attributes"]},
                      {"patient_ref", c.patient_of(r.lfn).value_or("")}});
  }
  return http_response{200, "application/json", {}, json{{"series", series}}.dump()};
}

}  // namespace

void add_my_series_routes(router& routes, const route_context& c) {
  routes.add("GET", "/v1/me/series", [c](const http_request& r) { return mine(c, r); });
}

}  // namespace dm2::node
