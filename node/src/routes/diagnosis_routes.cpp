// POST /v1/series/{lfn}/diagnoses: a physician of the patient's care team, at the owning site,
// records a diagnosis (a new version of the index record, signed and replicated; its text kept
// here). GET /v1/series/{lfn}/diagnoses: the diagnoses, for whom the policy lets read them.
#include <spdlog/spdlog.h>

#include <ctime>

#include "../diagnoses/diagnosis_input.hpp"
#include "diagnosis_view.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr const char* series_prefix = "/v1/series/";
constexpr const char* diagnoses_suffix = "/diagnoses";

// "YYYYMMDD" of a Unix time in milliseconds, UTC.
std::string utc_day(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char out[16];
  std::strftime(out, sizeof out, "%Y%m%d", &parts);
  return out;
}

http_response add(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, series_prefix, diagnoses_suffix);
  if (lfn.empty()) return error_response(fail(errc::invalid_argument, "give /v1/series/<32 hex digits>/diagnoses"));
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  auto input = parse_diagnosis_input(request.body);
  if (!input) {
    spdlog::info("event=diagnosis_refused reason=\"{}\"", input.err().message);
    return error_response(input.err());
  }
  auto record = local_record(c, lfn);
  if (!record) return error_response(fail(errc::not_found, "no index record with that lfn here"));
  // The policy: a physician of the patient's care team, at the series' owning site.
  auto f = c.facts_for(who, access::data_class::diagnoses, access::action::write, lfn, record->owner_site);
  if (auto refused = c.authorize(who, f, "diagnosis_add", lfn, false)) return *refused;
  if (record->owner_site != c.self_site())
    return error_response(fail(errc::not_found, "a diagnosis is recorded at the series' owning site"));
  const auto now = c.access->now_ms();
  std::size_t n = 0;
  storage::diagnosis added{input->code, utc_day(now), !input->text.empty()};
  auto change = [&](storage::index_record& r, storage::transaction& t) -> status {
    if (r.diagnoses.size() >= storage::index_record_limits::diagnoses)
      return fail(errc::conflict, "this series has its 16 diagnoses already");
    r.diagnoses.push_back(added);
    n = r.diagnoses.size();
    if (added.has_text) diagnosis_texts::put(t, lfn, n, input->text, who.id, now);
    return {};
  };
  // The allowed decision is audited in the commit that stores the diagnosis (never its content:
  // site admins read the audit chain).
  auto amended = c.overlay->amend(lfn, change,
                                  {0, who.actor(), "diagnosis_add", lfn, "allowed", "class=diagnoses act=write"});
  if (!amended) return error_response(amended.err());
  spdlog::info("event=diagnosis_recorded lfn={} version={} n={}", lfn, amended->version, n);
  json body = {{"lfn", lfn}, {"version", amended->version}, {"diagnosis", diagnosis_json(n, added)}};
  return http_response{201, "application/json", {}, body.dump()};
}

http_response list(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, series_prefix, diagnoses_suffix);
  if (lfn.empty()) return error_response(fail(errc::invalid_argument, "give /v1/series/<32 hex digits>/diagnoses"));
  auto record = local_record(c, lfn);
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::diagnoses, access::action::read, lfn,
                             record ? record->owner_site : "", "diagnosis_list"))
    return *refused;
  if (!record) return error_response(fail(errc::not_found, "no index record with that lfn here"));
  auto diagnoses = diagnoses_json(c, *record, true);
  if (!diagnoses) return error_response(diagnoses.err());
  json body = {{"lfn", lfn}, {"owner", record->owner_site}, {"version", record->version}, {"diagnoses", *diagnoses}};
  return http_response{200, "application/json", {}, body.dump()};
}

}  // namespace

void add_diagnosis_routes(router& routes, const route_context& c) {
  routes.add_prefix("POST", series_prefix, [c](const http_request& r) { return add(c, r); }, diagnoses_suffix);
  routes.add_prefix("GET", series_prefix, [c](const http_request& r) { return list(c, r); }, diagnoses_suffix);
}

}  // namespace dm2::node
