// Care teams (docs/api.md, "Care teams"): GET, POST and DELETE /v1/care-teams/{patient_ref}, or
// /v1/care-teams with the patient's ID at this site in the DM2-Patient-ID header (the node turns
// it into the reference, the keyed hash it keys patients by; the ID is never logged, audited or
// stored, and stays out of URLs). A site admin or a physician already in the team adds or
// removes physicians; every change is audited under the reference.
#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr const char* patient_id_header = "dm2-patient-id";  // lower-case, as routes see it
constexpr std::size_t max_patient_id = 64;

// The patient's reference: the path's last segment, or the keyed hash of the DM2-Patient-ID
// header on /v1/care-teams itself. Errors: invalid_argument.
result<std::string> patient_ref_of(const route_context& c, const http_request& request) {
  if (path_of(request.target) != "/v1/care-teams") {
    auto ref = last_segment(request.target);
    if (!access::valid_patient_ref(ref)) return fail(errc::invalid_argument, "a patient reference has 1 to 64 of a-z 0-9 . _ -");
    return ref;
  }
  auto id = request.headers.find(patient_id_header);
  if (id == request.headers.end() || id->second.empty() || id->second.size() > max_patient_id || !c.ingest)
    return fail(errc::invalid_argument, "name the patient: /v1/care-teams/<patient_ref>, or a DM2-Patient-ID header of 1 to 64 bytes");
  return c.ingest->patient_ref(id->second);
}

// Authenticates, finds the patient's reference, and asks the policy about his team (membership
// looked up here).
std::optional<http_response> admit_team(const route_context& c, const http_request& request, access::principal& who,
                                        access::action act, std::string& ref, const std::string& audit_action) {
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  who = std::move(*p);
  auto named = patient_ref_of(c, request);
  if (!named) return error_response(named.err());
  ref = std::move(*named);
  auto f = c.facts_for(who, access::data_class::care_teams, act, "", "");
  if (who.person && !who.asserted) {
    auto member = c.access->teams().contains(ref, who.id);
    if (!member) return error_response(member.err());
    f.care_team = *member;
  }
  return c.authorize(who, f, audit_action, ref);
}

result<json> members_json(const route_context& c, const std::string& ref) {
  auto ids = c.access->teams().members(ref);
  if (!ids) return std::move(ids).err();
  json out = json::array();
  for (const auto& id : *ids) {
    auto a = c.access->accounts().by_id(id);
    if (!a) return std::move(a).err();
    if (a->has_value()) out.push_back({{"id", id}, {"name", (*a)->name}, {"disabled", (*a)->disabled}});
  }
  return json{{"patient_ref", ref}, {"members", out}};
}

// The physician named by {"user": name}. Errors as responses: 400, 404.
result<access::account> named_physician(const route_context& c, const http_request& request) {
  auto j = json::parse(request.body, nullptr, false);
  std::string name;
  if (j.is_object() && j.size() == 1 && j.contains("user") && j["user"].is_string()) name = j["user"].get<std::string>();
  else name = query_of(request.target)["user"];
  if (name.empty()) return fail(errc::invalid_argument, "name the physician: {\"user\": name} or ?user=name");
  auto a = c.access->accounts().by_name(name);
  if (!a) return std::move(a).err();
  if (!a->has_value()) return fail(errc::not_found, "no such user");
  if ((*a)->who != access::role::physician) return fail(errc::invalid_argument, "care teams are made of physicians");
  return std::move(**a);
}

http_response show(const route_context& c, const http_request& request) {
  access::principal who;
  std::string ref;
  if (auto refused = admit_team(c, request, who, access::action::read, ref, "care_team_read")) return *refused;
  auto body = members_json(c, ref);
  if (!body) return error_response(body.err());
  return http_response{200, "application/json", {}, body->dump()};
}

http_response change(const route_context& c, const http_request& request, bool add) {
  access::principal who;
  std::string ref;
  if (auto refused = admit_team(c, request, who, access::action::write, ref, add ? "care_team_add" : "care_team_remove"))
    return *refused;
  auto physician = named_physician(c, request);
  if (!physician) return error_response(physician.err());
  storage::audit_event audit{0, who.actor(), add ? "care_team_added" : "care_team_removed", ref, "allowed",
                             "user=" + physician->id};
  auto s = add ? c.access->teams().add(ref, physician->id, std::move(audit))
               : c.access->teams().remove(ref, physician->id, std::move(audit));
  if (!s) return error_response(s.err());
  auto body = members_json(c, ref);
  if (!body) return error_response(body.err());
  return http_response{add ? 201 : 200, "application/json", {}, body->dump()};
}

}  // namespace

void add_care_team_routes(router& routes, const route_context& c) {
  std::pair<std::string, router::handler> verbs[] = {
      {"GET", [c](const http_request& r) { return show(c, r); }},
      {"POST", [c](const http_request& r) { return change(c, r, true); }},
      {"DELETE", [c](const http_request& r) { return change(c, r, false); }}};
  for (const auto& [method, handler] : verbs) {
    routes.add(method, "/v1/care-teams", handler);          // the patient by ID (header)
    routes.add_prefix(method, "/v1/care-teams/", handler);  // the patient by reference
  }
}

}  // namespace dm2::node
