// Grants (docs/api.md, "Grants"): POST and GET /v1/grants, DELETE /v1/grants/{id}. A physician
// grants a researcher (or a colleague) what he may read himself without a grant — named LFNs, or
// the LFNs of a query result he ran — for some data classes, a purpose and a time. The grantor
// or a site admin revokes. Every change audited.
#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_grant_body = 128 * 1024;

json grant_json(const access::grant& g, std::int64_t now) {
  json classes = json::array();
  for (auto c : g.classes) classes.push_back(access::name_of(c));
  return {{"id", g.id},           {"grantor", g.grantor},       {"grantee", g.grantee},
          {"lfns", g.lfns},       {"query", g.query},           {"classes", classes},
          {"purpose", access::name_of(g.why)}, {"created_at", g.created_at}, {"expires_at", g.expires_at},
          {"revoked", g.revoked}, {"live", g.live(now)}};
}

// The grant a POST asks for (grantor, grantee and times set here). Errors: invalid_argument,
// not_found (grantee, query).
result<access::grant> parse_grant(const route_context& c, const http_request& request) {
  if (request.body.size() > max_grant_body) return fail(errc::too_large, "grant body over 128 KiB");
  auto j = json::parse(request.body, nullptr, false);
  if (!j.is_object()) return fail(errc::malformed_input, "the body is not a JSON object");
  access::grant g;
  std::int64_t lifetime = 0;
  try {
    for (const auto& [key, value] : j.items())
      if (key != "grantee" && key != "lfns" && key != "query" && key != "classes" && key != "purpose" &&
          key != "expires_in_s")
        return fail(errc::invalid_argument, "unknown field '" + key + "'");
    auto grantee = c.access->accounts().by_name(j.at("grantee").get<std::string>());
    if (!grantee) return std::move(grantee).err();
    if (!grantee->has_value() || (*grantee)->disabled) return fail(errc::not_found, "no such (enabled) grantee");
    if ((*grantee)->who != access::role::researcher && (*grantee)->who != access::role::physician)
      return fail(errc::invalid_argument, "grants go to researchers and physicians");
    g.grantee = (*grantee)->id;
    if (j.contains("lfns") == j.contains("query")) return fail(errc::invalid_argument, "give either lfns or query");
    if (j.contains("lfns")) g.lfns = j["lfns"].get<std::vector<std::string>>();
    if (j.contains("query")) {
      g.query = j["query"].get<std::string>();
      auto view = c.queries->view(g.query);
      if (!view) return fail(errc::not_found, "no such query (unknown, or finished and forgotten)");
      for (const auto& h : view->hits) g.lfns.push_back(h.hit.lfn);
    }
    for (const auto& name : j.at("classes").get<std::vector<std::string>>()) {
      auto cl = access::data_class_from(name);
      if (!cl) return fail(errc::invalid_argument, "unknown data class '" + name + "'");
      g.classes.push_back(*cl);
    }
    auto p = access::purpose_from(j.value("purpose", "research"));
    if (!p || *p == access::purpose::none) return fail(errc::invalid_argument, "purpose: treatment or research");
    g.why = *p;
    lifetime = j.at("expires_in_s").get<std::int64_t>();
  } catch (const json::exception&) {
    return fail(errc::invalid_argument,
                "give grantee, lfns (or query), classes, expires_in_s (and purpose) with their JSON types");
  }
  g.created_at = c.access->now_s();
  g.expires_at = g.created_at + lifetime;
  return g;
}

http_response create(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::grants, access::action::write, "", "", "grant_create", "grants"))
    return *refused;
  auto g = parse_grant(c, request);
  if (!g) return error_response(g.err());
  g->grantor = who.id;
  // A grant passes on only what the grantor reads himself without one (no chains of grants).
  for (const auto& lfn : g->lfns)
    for (auto cl : g->classes) {
      auto f = c.facts_for(who, cl, access::action::read, lfn, "");
      f.grant = false;
      auto d = access::decide(f);
      if (!d.allowed) {
        (void)c.audit->append({0, who.actor(), "grant_create", lfn, "refused: grantor " + std::string(d.reason),
                               "class=" + std::string(access::name_of(cl)) + " rule=" + std::string(d.rule)});
        return error_response(fail(errc::permission_denied, "you may not grant " + std::string(access::name_of(cl)) +
                                                                " of " + lfn + ": " + std::string(d.reason)));
      }
    }
  auto stored = c.access->grants().create(std::move(*g), {0, who.actor(), "grant_created", "", "allowed", ""});
  if (!stored) return error_response(stored.err());
  return http_response{201, "application/json", {}, grant_json(*stored, c.access->now_s()).dump()};
}

http_response list(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::grants, access::action::read, "", "", "grant_list", "grants"))
    return *refused;
  auto all = c.access->grants().list(who.who == access::role::site_admin ? "" : who.id);
  if (!all) return error_response(all.err());
  json out = json::array();
  auto now = c.access->now_s();
  for (const auto& g : *all) out.push_back(grant_json(g, now));
  return http_response{200, "application/json", {}, json{{"grants", out}}.dump()};
}

http_response revoke(const route_context& c, const http_request& request) {
  access::principal who;
  auto id = last_segment(request.target);
  if (auto refused = c.admit(request, who, access::data_class::grants, access::action::write, "", "", "grant_revoke", id))
    return *refused;
  auto g = c.access->grants().get(id);
  if (!g) return error_response(g.err());
  if (!g->has_value()) return error_response(fail(errc::not_found, "no such grant"));
  // Only its grantor, or a site admin, ends a grant.
  if ((*g)->grantor != who.id && who.who != access::role::site_admin) {
    (void)c.audit->append({0, who.actor(), "grant_revoke", id, "refused: not_grantor", ""});
    return error_response(fail(errc::permission_denied, "only the grantor or a site admin revokes a grant"));
  }
  auto revoked = c.access->grants().revoke(id, {0, who.actor(), "grant_revoked", "", "allowed", ""});
  if (!revoked) return error_response(revoked.err());
  return http_response{200, "application/json", {}, grant_json(*revoked, c.access->now_s()).dump()};
}

}  // namespace

void add_grant_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/grants", [c](const http_request& r) { return create(c, r); });
  routes.add("GET", "/v1/grants", [c](const http_request& r) { return list(c, r); });
  routes.add_prefix("DELETE", "/v1/grants/", [c](const http_request& r) { return revoke(c, r); });
}

}  // namespace dm2::node
