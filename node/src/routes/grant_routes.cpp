// Grants (docs/api.md, "Grants"): POST and GET /v1/grants, DELETE /v1/grants/{id}. A physician
// grants a researcher (or a colleague) what he may read himself without a grant — named LFNs, or
// the LFNs of a query result he ran — for some data classes, a purpose and a time. The grantor
// or a site admin revokes. Every change audited.
//
// Cross-site grants (docs/security.md, "Cross-site grants"): a grantee named by his consortium id
// (<pseudonym>@<site>) is a user of another site; this site, the owner of the LFNs, signs the grant
// and pushes it to his site (POST /v1/grants/received, site to site), keeps it, and answers every
// other site's question about it (GET /v1/grants/{id}/status). Either party revokes: the owner
// (its grantor or site admin) or the grantee's site (its site admin), and pushes the revocation
// to the other (DELETE /v1/grants/{id}, site to site), which takes it only from that party.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "../access/signed_grant.hpp"
#include "dm2/crypto/hash.hpp"
#include "cross_site_grants.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "routes.hpp"
#include "series_retrieval.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_grant_body = 128 * 1024;

bool is_hex_id(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

json grant_json(const route_context& c, const access::grant& g, std::int64_t now) {
  json classes = json::array();
  for (auto cl : g.classes) classes.push_back(access::name_of(cl));
  auto self = c.self_site();
  return {{"id", g.id},           {"grantor", g.grantor},       {"grantee", g.grantee},
          {"site", g.issuer.empty() ? self : g.issuer},
          {"grantee_site", g.grantee_site.empty() ? self : g.grantee_site},
          {"lfns", g.lfns},       {"query", g.query},           {"classes", classes},
          {"purpose", access::name_of(g.why)}, {"created_at", g.created_at}, {"expires_at", g.expires_at},
          {"revoked", g.revoked}, {"live", g.live(now)}};
}

// The grant a POST asks for (grantor, grantee and times set here). Errors: invalid_argument,
// not_found (grantee; a query unknown, forgotten or run by someone else than the grantor).
result<access::grant> parse_grant(const route_context& c, const http_request& request, const std::string& grantor) {
  if (request.body.size() > max_grant_body) return fail(errc::too_large, "grant body over 128 KiB");
  auto j = json::parse(request.body, nullptr, false);
  if (!j.is_object()) return fail(errc::malformed_input, "the body is not a JSON object");
  access::grant g;
  std::int64_t lifetime = 0;
  try {
    for (const auto& [key, value] : j.items())
      if (key != "grantee" && key != "grantee_id" && key != "lfns" && key != "query" && key != "classes" &&
          key != "purpose" && key != "expires_in_s")
        return fail(errc::invalid_argument, "unknown field '" + key + "'");
    if (j.contains("grantee") == j.contains("grantee_id"))
      return fail(errc::invalid_argument, "give either grantee (a name here) or grantee_id (<pseudonym>@<site>)");
    if (j.contains("grantee_id")) {
      // A consortium id: the user's pseudonym at his site (GET /v1/sessions/current shows it him).
      auto id = j["grantee_id"].get<std::string>();
      auto at = id.find('@');
      if (at == std::string::npos || !is_hex_id(id.substr(0, at)))
        return fail(errc::invalid_argument, "grantee_id is <32 hex digits>@<site id>");
      g.grantee = id.substr(0, at);
      g.grantee_site = id.substr(at + 1);
      if (g.grantee_site == c.self_site()) g.grantee_site.clear();
      else if (!c.members->member_by_id(g.grantee_site)) return fail(errc::not_found, "no such site on the roster");
    }
    if (g.grantee_site.empty()) {  // a user of this site; another site checks its own (receive)
      auto grantee = g.grantee.empty() ? c.access->accounts().by_name(j.at("grantee").get<std::string>())
                                       : c.access->accounts().by_id(g.grantee);
      if (!grantee) return std::move(grantee).err();
      if (!grantee->has_value() || (*grantee)->disabled) return fail(errc::not_found, "no such (enabled) grantee");
      if ((*grantee)->who != access::role::researcher && (*grantee)->who != access::role::physician)
        return fail(errc::invalid_argument, "grants go to researchers and physicians");
      g.grantee = (*grantee)->id;
    }
    if (j.contains("lfns") == j.contains("query")) return fail(errc::invalid_argument, "give either lfns or query");
    if (j.contains("lfns")) g.lfns = j["lfns"].get<std::vector<std::string>>();
    if (j.contains("query")) {
      g.query = j["query"].get<std::string>();
      auto view = c.queries->view(g.query);
      // Another user's query answers as an unknown one: its id says nothing of who ran it.
      if (!view || view->querier != grantor)
        return fail(errc::not_found, "no such query of yours (unknown, finished and forgotten, or run by another user)");
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

// A cross-site grant, before it is kept here: only this site's series (it signs as their owner),
// given an id, signed and accepted by the grantee's site (which checks its user). Returns the
// response to send when it cannot be.
std::optional<http_response> send_to_grantee_site(const route_context& c, const access::principal& who,
                                                  access::grant& g) {
  for (const auto& lfn : g.lfns)
    if (c.overlay->owned_version(lfn) == 0) {
      (void)c.audit->append({0, who.actor(), "grant_create", lfn, "refused: not_owner", "grantee_site=" + g.grantee_site});
      return error_response(fail(errc::permission_denied, "a user of another site is granted only this site's series; " +
                                                              lfn + " is not"));
    }
  g.id = crypto::to_hex(crypto::random_bytes(16));
  if (auto s = access::grant_store::check(g); !s) return error_response(s.err());
  auto wire = access::sign_grant(g, c.self_site(), c.identity->dht_key_pem);
  if (!wire) return error_response(wire.err());
  auto r = c.call_peer(g.grantee_site, "POST", "/v1/grants/received", json{{"grant", *wire}}.dump(), "",
                       std::chrono::seconds(10));
  if (r && r->status == 201) return std::nullopt;
  auto why = r ? peer_error(*r, g.grantee_site)
               : error{errc::unavailable, g.grantee_site + " unreachable: " + r.err().message};
  (void)c.audit->append({0, who.actor(), "grant_create", g.id, "refused: grantee_site", why.message});
  return error_response(why);
}

http_response create(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::grants, access::action::write, "", "", "grant_create", "grants"))
    return *refused;
  // The policy lets site admins write grants to revoke them; only physicians give them (a site
  // admin reads every series' index attributes, which he must not pass on to a researcher).
  if (who.who != access::role::physician) {
    (void)c.audit->append({0, who.actor(), "grant_create", "grants", "refused: not_a_physician", ""});
    return error_response(fail(errc::permission_denied, "only physicians grant"));
  }
  auto g = parse_grant(c, request, who.id);
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
  if (!g->grantee_site.empty())
    if (auto no = send_to_grantee_site(c, who, *g)) return *no;
  auto detail = g->grantee_site.empty() ? "" : "grantee_site=" + g->grantee_site;
  auto stored = c.access->grants().create(std::move(*g), {0, who.actor(), "grant_created", "", "allowed", detail});
  if (!stored) return error_response(stored.err());
  return http_response{201, "application/json", {}, grant_json(c, *stored, c.access->now_s()).dump()};
}

http_response list(const route_context& c, const http_request& request) {
  access::principal who;
  if (auto refused = c.admit(request, who, access::data_class::grants, access::action::read, "", "", "grant_list", "grants"))
    return *refused;
  auto all = c.access->grants().list(who.who == access::role::site_admin ? "" : who.id);
  if (!all) return error_response(all.err());
  json out = json::array();
  auto now = c.access->now_s();
  for (const auto& g : *all) out.push_back(grant_json(c, g, now));
  return http_response{200, "application/json", {}, json{{"grants", out}}.dump()};
}

// Who may end grant `g` (made here, or received from its issuer): a site by its certificate only
// as the other party of a cross-site grant — the issuer of a received one, the grantee's site of
// one made here; a user of this site as its grantor (made here) or as a site admin. The refusal
// reason for the audit, "" when allowed.
std::string_view revocation_refusal(const access::principal& who, const access::grant& g) {
  if (!who.asserted && who.who == access::role::site)
    return (g.issuer.empty() ? g.grantee_site == who.id : g.issuer == who.id) ? "" : "not_a_party";
  if (who.who == access::role::site_admin || (g.grantor == who.id && g.issuer.empty())) return "";
  return "not_grantor";
}

http_response revoke(const route_context& c, const http_request& request) {
  auto id = last_segment(request.target);
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  const bool from_site = !who.asserted && who.who == access::role::site;
  if (!from_site)
    if (auto refused = c.authorize(who, c.facts_for(who, access::data_class::grants, access::action::write, "", ""),
                                   "grant_revoke", id))
      return *refused;
  auto g = c.access->grants().get(id);
  if (!g) return error_response(g.err());
  // Another site learns nothing of which grants exist here: an unknown one is not its own either.
  if (!g->has_value() && !from_site) return error_response(fail(errc::not_found, "no such grant"));
  auto refusal = g->has_value() ? revocation_refusal(who, **g) : std::string_view("not_a_party");
  if (!refusal.empty()) {
    (void)c.audit->append({0, who.actor(), "grant_revoke", id, "refused: " + std::string(refusal), ""});
    return error_response(fail(errc::permission_denied,
                               from_site ? "a site revokes here only the cross-site grants it is a party to"
                                         : "only the grantor or a site admin of this site revokes a grant"));
  }
  auto revoked = c.access->grants().revoke(id, {0, who.actor(), "grant_revoked", "", "allowed", ""});
  if (!revoked) return error_response(revoked.err());
  // The other party of a cross-site grant is told (not when it is the one telling): the grantee's
  // site then shows it revoked and refuses at home; the owner refuses at its sealed leg and to
  // every share holder's question. Each side's own copy already stops what that side serves.
  auto other = revoked->issuer.empty() ? revoked->grantee_site : revoked->issuer;
  if (!other.empty() && !from_site) {
    auto told = c.call_peer(other, "DELETE", "/v1/grants/" + id, {}, {}, std::chrono::seconds(5));
    if (!told || told->status != 200)
      spdlog::warn("event=grant_revocation_not_pushed grant={} site={} reason=\"{}\"", id, other,
                   told ? std::to_string(told->status) : told.err().message);
  }
  return http_response{200, "application/json", {}, grant_json(c, *revoked, c.access->now_s()).dump()};
}

// Only another roster member's own certificate (no user's assertion): the site-to-site routes.
std::optional<http_response> refuse_unless_peer_site(const route_context& c, const http_request& request,
                                                     access::principal& who, const std::string& action) {
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  who = std::move(*p);
  if (who.who == access::role::site && !who.asserted) return std::nullopt;
  (void)c.audit->append({0, who.actor(), action, "grants", "refused: not_a_peer_site", ""});
  return error_response(fail(errc::permission_denied, "this resource is for other consortium sites"));
}

// POST /v1/grants/received: another site, the owner of the LFNs, grants one of this site's users.
http_response receive(const route_context& c, const http_request& request) {
  access::principal site;
  if (auto no = refuse_unless_peer_site(c, request, site, "grant_receive")) return *no;
  auto refuse = [&](const error& e, const std::string& reason) {
    (void)c.audit_request(request, "grant_receive", "grants", "refused: " + reason);
    return error_response(e);
  };
  if (request.body.size() > access::max_signed_grant_bytes + 64)
    return refuse(error{errc::too_large, "grant body over 64 KiB"}, "too_large");
  auto j = json::parse(request.body, nullptr, false);
  if (!j.is_object() || j.size() != 1 || !j["grant"].is_string())
    return refuse(error{errc::invalid_argument, "give {\"grant\": signed grant}"}, "malformed");
  auto wire = j["grant"].get<std::string>();
  auto v = access::verify_grant(wire, [&](std::string_view id) -> result<std::string> {
    auto m = c.members->member_by_id(std::string(id));
    if (!m) return std::move(m).err();
    return m->dht_public_key;
  });
  if (!v) return refuse(v.err(), v.err().message);
  if (v->site != site.id) return refuse(error{errc::permission_denied, "signed by another site than the sender"}, "wrong_site");
  for (const auto& lfn : v->g.lfns)  // as far as this site's index copies know each LFN's owner
    if (auto copy = c.overlay->find(lfn))
      if (auto record = dht::decode_replica(*copy); record && record->owner_site != v->site)
        return refuse(error{errc::permission_denied, "signed by a site that does not own " + lfn}, "not_owner");
  if (v->g.grantee_site != c.self_site())
    return refuse(error{errc::invalid_argument, "that grant is for a user of another site"}, "other_site");
  auto grantee = c.access->accounts().by_id(v->g.grantee);
  if (!grantee) return error_response(grantee.err());
  if (!grantee->has_value() || (*grantee)->disabled)
    return refuse(error{errc::not_found, "no such (enabled) user at " + c.self_site()}, "no_grantee");
  if ((*grantee)->who != access::role::researcher && (*grantee)->who != access::role::physician)
    return refuse(error{errc::invalid_argument, "grants go to researchers and physicians"}, "grantee_role");
  auto g = std::move(v->g);
  g.grantee_site.clear();  // this site's user
  g.issuer = v->site;
  g.signed_grant = std::move(wire);
  g.created_at = c.access->now_s();
  auto stored = c.access->grants().create(std::move(g), {0, c.actor(request), "grant_received", "", "allowed",
                                                         "grantee=" + (*grantee)->id});
  if (!stored) return refuse(stored.err(), "invalid");
  return http_response{201, "application/json", {}, grant_json(c, *stored, c.access->now_s()).dump()};
}

// GET /v1/grants/{id}/status?user=&site=&lfn=&class=&purpose=: whether a grant this site made
// lets that user read that class of that LFN now; asked by the share holders of a retrieval.
http_response grant_status(const route_context& c, const http_request& request) {
  auto id = lfn_in(request.target, "/v1/grants/", "/status");
  access::principal site;
  if (auto no = refuse_unless_peer_site(c, request, site, "grant_check")) return *no;
  auto q = query_of(request.target);
  auto what = access::data_class_from(q["class"]);
  auto why = access::purpose_from(q["purpose"]);
  if (id.empty() || !is_hex_id(q["user"]) || !is_hex_id(q["lfn"]) || q["site"].empty() || !what || !why)
    return error_response(fail(errc::invalid_argument, "give /v1/grants/<id>/status?user=&site=&lfn=&class=&purpose="));
  auto reason = owner_grant_refusal(c, id, q["user"], q["site"], q["lfn"], *what, *why);
  if (auto s = c.audit->append({0, c.actor(request), "grant_check", id, reason.empty() ? "allowed" : "refused: " + reason,
                                "user=" + q["user"] + "@" + q["site"] + " lfn=" + q["lfn"] + " class=" + q["class"]});
      !s)
    return error_response(s.err());
  json body = {{"live", reason.empty()}};
  if (!reason.empty()) body["reason"] = reason;
  return http_response{200, "application/json", {}, body.dump()};
}

}  // namespace

void add_grant_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/grants", [c](const http_request& r) { return create(c, r); });
  routes.add("GET", "/v1/grants", [c](const http_request& r) { return list(c, r); });
  routes.add_prefix("DELETE", "/v1/grants/", [c](const http_request& r) { return revoke(c, r); });
  routes.add("POST", "/v1/grants/received", [c](const http_request& r) { return receive(c, r); });
  routes.add_prefix("GET", "/v1/grants/", [c](const http_request& r) { return grant_status(c, r); }, "/status");
}

}  // namespace dm2::node
