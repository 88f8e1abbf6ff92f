// Accounts of this site (docs/api.md, "Users"): POST and GET /v1/users, PATCH /v1/users/{name}.
// Site admins only (a signed-in site admin, or the operator's site certificate), as the policy
// says (data class accounts); every change audited with the account's pseudonym, never its name.
#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_user_body = 4096;

json user_json(const access::account& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"role", access::name_of(a.who)},
          {"disabled", a.disabled},
          {"created_at", a.created_at},
          {"linked_patient", !a.patient_ref.empty()}};
}

result<json> parse_body(const http_request& request) {
  if (request.body.size() > max_user_body) return fail(errc::too_large, "body over 4 KiB");
  auto j = json::parse(request.body, nullptr, false);
  if (!j.is_object()) return fail(errc::malformed_input, "the body is not a JSON object");
  return j;
}

http_response create(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::accounts, access::action::write, "", "", "user_add", "users"))
    return *refused;
  auto j = parse_body(request);
  if (!j) return error_response(j.err());
  access::account a;
  try {
    for (const auto& [key, value] : j->items())
      if (key != "name" && key != "role" && key != "password" && key != "patient_ref" &&
          key != "patient_id")
        return error_response(fail(errc::invalid_argument, "unknown field '" + key + "'"));
    a.name = j->at("name").get<std::string>();
    auto r = access::user_role_from(j->at("role").get<std::string>());
    if (!r) return error_response(fail(errc::invalid_argument, "role must be patient, physician, researcher or site_admin"));
    a.who = *r;
    auto hash = c.access->hasher().hash(j->at("password").get<std::string>());
    if (!hash) return error_response(hash.err());
    a.password_hash = std::move(*hash);
    a.patient_ref = j->value("patient_ref", "");
    // The patient's ID at this site names his record; only its keyed hash is kept (never logged).
    if (j->contains("patient_id")) {
      auto id = j->at("patient_id").get<std::string>();
      if (!a.patient_ref.empty() || id.empty() || id.size() > 64 || !c.ingest)
        return error_response(fail(errc::invalid_argument, "give either patient_ref or a patient_id of 1 to 64 bytes"));
      a.patient_ref = c.ingest->patient_ref(id);
    }
  } catch (const json::exception&) {
    return error_response(fail(errc::invalid_argument, "give name, role and password as strings (patient_id or patient_ref for patients)"));
  }
  if ((a.who == access::role::patient) != !a.patient_ref.empty())
    return error_response(fail(errc::invalid_argument, "patient_id (or patient_ref) is required for a patient and only for a patient"));
  if (!a.patient_ref.empty() && !access::valid_patient_ref(a.patient_ref))
    return error_response(fail(errc::invalid_argument, "a patient reference has 1 to 64 of a-z 0-9 . _ -"));
  a.created_at = c.access->now_s();
  auto detail = "role=" + std::string(access::name_of(a.who));
  auto stored = c.access->accounts().create(std::move(a), {0, who.actor(), "user_created", "", "allowed", detail});
  if (!stored) return error_response(stored.err());
  return http_response{201, "application/json", {}, user_json(*stored).dump()};
}

http_response list(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::accounts, access::action::read, "", "", "user_list", "users"))
    return *refused;
  auto all = c.access->accounts().list();
  if (!all) return error_response(all.err());
  json users = json::array();
  for (const auto& a : *all) users.push_back(user_json(a));
  return http_response{200, "application/json", {}, json{{"users", users}}.dump()};
}

// PATCH /v1/users/{name} {"disabled": bool}: a disabled account's sessions stop working at once
// (each request looks the account up).
http_response update(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::accounts, access::action::write, "", "", "user_update", "users"))
    return *refused;
  auto j = parse_body(request);
  if (!j) return error_response(j.err());
  if (j->size() != 1 || !j->contains("disabled") || !(*j)["disabled"].is_boolean())
    return error_response(fail(errc::invalid_argument, "give {\"disabled\": true|false}"));
  bool disabled = (*j)["disabled"].get<bool>();
  auto stored = c.access->accounts().set_disabled(last_segment(request.target), disabled,
                                                  {0, who.actor(), disabled ? "user_disabled" : "user_enabled", "", "allowed", ""});
  if (!stored) return error_response(stored.err());
  return http_response{200, "application/json", {}, user_json(*stored).dump()};
}

}  // namespace

void add_user_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/users", [c](const http_request& r) { return create(c, r); });
  routes.add("GET", "/v1/users", [c](const http_request& r) { return list(c, r); });
  routes.add_prefix("PATCH", "/v1/users/", [c](const http_request& r) { return update(c, r); });
}

}  // namespace dm2::node
