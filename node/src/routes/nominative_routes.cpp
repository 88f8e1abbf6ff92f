// The nominative record of a series (docs/api.md, "GET /v1/nominative/{lfn}"): who the patient
// is (name, patient ID, accession number, original UIDs), from the owner's sealed nominative
// link. Only at the owning site, only to the patient himself and his care team (for treatment):
// the policy decides (data class nominative) and every decision is audited by LFN. The answer is
// never logged; it is the one response of the node that names a patient.
#include <nlohmann/json.hpp>

#include "dm2/storage/index_record.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

bool is_lfn(std::string_view s) {
  return s.size() == 2 * storage::lfn_size && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

http_response show(const route_context& c, const http_request& request) {
  auto lfn = last_segment(request.target);
  if (!is_lfn(lfn)) return error_response(fail(errc::invalid_argument, "give /v1/nominative/<32 hex digits>"));
  std::string owner;
  if (auto copy = c.overlay->find(lfn)) owner = copy->owner;
  access::principal who;
  if (auto refused =
          c.admit(request, who, access::data_class::nominative, access::action::read, lfn, owner, "nominative_read"))
    return *refused;
  auto none = fail(errc::not_found, "this site holds no nominative record for that LFN");
  if (!c.ingest) return error_response(none);
  auto link = c.ingest->nominative_of(lfn);
  if (!link) return error_response(link.err());
  if (!*link) return error_response(none);
  const auto& l = **link;
  nlohmann::json body = {{"lfn", lfn},
                         {"patient_id", l.patient_id},
                         {"patient_name", l.patient_name},
                         {"accession_number", l.accession_number},
                         {"study_uid", l.study_uid},
                         {"series_uid", l.series_uid}};
  return http_response{200, "application/json", {}, body.dump()};
}

}  // namespace

void add_nominative_routes(router& routes, const route_context& c) {
  routes.add_prefix("GET", "/v1/nominative/", [c](const http_request& r) { return show(c, r); });
}

}  // namespace dm2::node
