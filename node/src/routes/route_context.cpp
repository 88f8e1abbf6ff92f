#include "route_context.hpp"

#include <spdlog/spdlog.h>

#include "cross_site_grants.hpp"
#include "dm2/node/router.hpp"

namespace dm2::node {

std::optional<http_response> route_context::refuse_unless_site(const http_request& request) const {
  if (!request.peer_certificate_fingerprint.empty() &&
      request.peer_certificate_fingerprint == identity->certificate_fingerprint)
    return std::nullopt;
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (member) return std::nullopt;
  spdlog::warn("event=peer_refused remote={} fingerprint={} reason=\"{}\"", request.remote_address,
               request.peer_certificate_fingerprint.empty() ? "none" : request.peer_certificate_fingerprint,
               member.err().message);
  return error_response(fail(errc::permission_denied, "this resource is for consortium sites"));
}

std::optional<http_response> route_context::refuse_unless_self(const http_request& request) const {
  if (!request.peer_certificate_fingerprint.empty() &&
      request.peer_certificate_fingerprint == identity->certificate_fingerprint)
    return std::nullopt;
  spdlog::warn("event=request_refused remote={} fingerprint={} reason=\"not this site's certificate\"",
               request.remote_address,
               request.peer_certificate_fingerprint.empty() ? "none" : request.peer_certificate_fingerprint);
  return error_response(fail(errc::permission_denied, "this resource is for this site's own operator"));
}

std::string route_context::actor(const http_request& request) const {
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (member) return "site:" + member->site_id;
  return "cert:" + request.peer_certificate_fingerprint;
}

status route_context::audit_request(const http_request& request, std::string action, std::string object,
                                    std::string decision) const {
  return audit->append({0, actor(request), std::move(action), std::move(object), std::move(decision), ""});
}

result<client_response> route_context::ask_peer(const std::string& site, const std::string& path,
                                                const std::string& assertion_wire) const {
  return call_peer(site, "GET", path, {}, assertion_wire, std::chrono::seconds(10));
}

result<client_response> route_context::call_peer(const std::string& site, const std::string& method,
                                                 const std::string& path, const std::string& body,
                                                 const std::string& assertion_wire, std::chrono::milliseconds timeout,
                                                 const std::string& content_type) const {
  auto link = link_to(site, assertion_wire);
  if (!link) return std::move(link).err();
  if (!body.empty()) link->headers.emplace("Content-Type", content_type);
  auto r = peer_connections
               ? peer_connections->request(link->target, link->tls, method, path, body, timeout, link->headers)
               : https_request(link->target, link->tls, method, path, body, timeout, link->headers);
  if (r)
    if (auto s = link->check(*r); !s) return std::move(s).err();
  return r;
}

result<route_context::peer_link> route_context::link_to(const std::string& site, const std::string& assertion_wire) const {
  auto member = members->member_by_id(site);
  if (!member) return std::move(member).err();
  auto ep = crypto::parse_endpoint(member->https_endpoint);
  if (!ep) return std::move(ep).err();
  peer_link link{site, {ep->address, ep->port}, {identity->ca_certificate_pem, identity->certificate_pem, identity->private_key_pem}, {}, member->certificate_sha256};
  if (!assertion_wire.empty()) link.headers.emplace(access::assertion_header, assertion_wire);
  return link;
}

status route_context::peer_link::check(const client_response& answer) const {
  if (answer.server_certificate_fingerprint == certificate_sha256) return {};
  return fail(errc::permission_denied, "site " + site + " answered with a certificate not on the roster");
}

std::string lfn_in(const std::string& target, std::string_view prefix, std::string_view suffix) {
  auto path = path_of(target);
  if (path.size() != prefix.size() + 2 * storage::lfn_size + suffix.size() || path.rfind(prefix, 0) != 0 ||
      path.substr(path.size() - suffix.size()) != suffix)
    return {};
  auto lfn = path.substr(prefix.size(), 2 * storage::lfn_size);
  return lfn.find_first_not_of("0123456789abcdef") == std::string::npos ? lfn : std::string{};
}

std::string route_context::self_site() const {
  auto self = members->self();
  return self ? self->site_id : config->site_name;
}

namespace {

access::purpose default_purpose(access::role r) {
  switch (r) {
    case access::role::physician: return access::purpose::treatment;
    case access::role::researcher: return access::purpose::research;
    case access::role::site_admin: return access::purpose::operations;
    default: return access::purpose::none;
  }
}

}  // namespace

result<access::principal> route_context::authenticate(const http_request& request) const {
  access::principal p;
  auto token = access::session_token_of(request.headers);
  if (!token.empty()) {
    auto refused = fail(errc::unauthenticated, "the session expired, was revoked, or its account is disabled");
    auto s = access->sessions().find(token, access->now_s());
    if (!s) return std::move(s).err();
    if (!s->has_value()) return refused;
    auto a = access->accounts().by_id((*s)->user_id);
    if (!a) return std::move(a).err();
    if (!a->has_value()) return refused;
    if ((*a)->disabled) {
      // A disabled account's live token: refused like any dead session, and audited (its owner
      // was someone until now).
      (void)audit->append({0, "user:" + (*a)->id, "session", path_of(request.target), "refused: account_disabled", ""});
      return refused;
    }
    p.who = (*a)->who;
    p.id = (*a)->id;
    p.home_site = self_site();
    p.person = true;
    p.patient_ref = (*a)->patient_ref;
    return p;
  }
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  bool own_certificate = !request.peer_certificate_fingerprint.empty() &&
                         request.peer_certificate_fingerprint == identity->certificate_fingerprint;
  if (auto header = request.headers.find(access::assertion_header); header != request.headers.end()) {
    if (!member || own_certificate) {
      // A site no longer (or never) on the roster, or this site's own certificate: refused and
      // audited, the assertion unread.
      auto who = own_certificate ? "site:" + self_site() : "cert:" + request.peer_certificate_fingerprint;
      spdlog::warn("event=assertion_refused remote={} reason={}", request.remote_address,
                   own_certificate ? "own_certificate" : "not_a_member");
      (void)audit->append({0, who, "assertion", path_of(request.target),
                           own_certificate ? "refused: own_certificate" : "refused: not_a_member", ""});
      return fail(errc::permission_denied, "assertions are presented by other consortium sites");
    }
    auto a = access->assertions().verify(member->site_id, header->second);
    if (!a) {
      spdlog::warn("event=assertion_refused site={} reason={}", member->site_id, a.err().message);
      (void)audit->append({0, "site:" + member->site_id, "assertion", path_of(request.target),
                           "refused: " + a.err().message, ""});
      return fail(errc::permission_denied, "assertion refused: " + a.err().message);
    }
    p.who = a->who;
    p.id = a->user;
    p.home_site = a->site;
    p.person = true;
    p.asserted = std::move(*a);
    return p;
  }
  if (own_certificate) {
    // The local operator: whoever can read the site key runs the node; a site admin.
    p.who = access::role::site_admin;
    p.id = p.home_site = self_site();
    return p;
  }
  if (member) {
    p.who = access::role::site;
    p.id = p.home_site = member->site_id;
    return p;
  }
  if (!request.peer_certificate_fingerprint.empty()) {
    spdlog::warn("event=peer_refused remote={} fingerprint={} reason=\"not on the roster\"", request.remote_address,
                 request.peer_certificate_fingerprint);
    return fail(errc::permission_denied, "this certificate is not on the consortium roster");
  }
  return fail(errc::unauthenticated, "sign in (POST /v1/sessions) or present a consortium site certificate");
}

access::facts route_context::facts_for(const access::principal& who, access::data_class what, access::action act,
                                       std::string_view lfn, std::string_view owner_site) const {
  access::facts f;
  f.who = who.who;
  f.what = what;
  f.act = act;
  f.why = who.asserted ? who.asserted->why : default_purpose(who.who);
  f.own_site = owner_site.empty() ? who.home_site == self_site() : who.home_site == owner_site;
  if (!who.person || lfn.empty()) return f;
  if (who.asserted) {
    const auto& a = *who.asserted;
    // Care teams, nominative links and grants live at the owning site: only the owner vouches
    // for them. Its own users' relations it asserts itself; a grant it made for another site's
    // user is believed only from its store, read here (the owner) or asked of it (a holder).
    if (!a.covers(lfn, what) || owner_site.empty()) return f;
    if (a.site == owner_site) {
      f.grant = !a.grant.empty();
      f.care_team = a.basis == access::basis_care_team;
      f.self = a.basis == access::basis_own_record && a.who == access::role::patient;
    } else if (!a.grant.empty()) {
      f.grant = cross_site_grant_live(*this, a, lfn, what, owner_site);
    }
    return f;
  }
  auto ref = patient_of(lfn);
  if (ref) {
    f.self = who.who == access::role::patient && who.patient_ref == *ref;
    auto member = access->teams().contains(*ref, who.id);
    f.care_team = member && *member;
  }
  // A grant received from another site opens only that site's series (it signed it as their owner).
  auto g = access->grants().covering(who.id, lfn, what, access->now_s());
  f.grant = g && g->has_value() && (*g)->why == f.why && ((*g)->issuer.empty() || (*g)->issuer == owner_site);
  return f;
}

route_context::audited_decision route_context::decide(const access::principal& who, const access::facts& f,
                                                      const std::string& audit_action, const std::string& object) const {
  access::decision d;
  if (who.asserted && !who.asserted->covers(object, f.what)) {
    d = {false, "assertion", "over_scoped"};
  } else {
    d = access::decide(f);
  }
  std::string detail = "role=" + std::string(access::name_of(f.who)) + " class=" + std::string(access::name_of(f.what)) +
                       " act=" + std::string(access::name_of(f.act)) + " purpose=" + std::string(access::name_of(f.why)) +
                       " rule=" + std::string(d.rule);
  auto decision = d.allowed ? std::string("allowed") : "refused: " + std::string(d.reason);
  return {d, {0, who.actor(), audit_action, object, decision, detail}};
}

std::optional<http_response> route_context::authorize(const access::principal& who, const access::facts& f,
                                                      const std::string& audit_action, const std::string& object,
                                                      bool audit_allowed) const {
  auto [d, entry] = decide(who, f, audit_action, object);
  if (d.allowed && !audit_allowed) return std::nullopt;
  if (auto s = audit->append(std::move(entry)); !s) return error_response(s.err());
  if (d.allowed) return std::nullopt;
  return error_response(fail(errc::permission_denied, "not allowed: " + std::string(d.reason) + " (" +
                                                          std::string(d.rule) + ")"));
}

std::optional<http_response> route_context::admit(const http_request& request, access::principal& who,
                                                  access::data_class what, access::action act, std::string_view lfn,
                                                  std::string_view owner_site, const std::string& audit_action,
                                                  const std::string& object, bool audit_allowed) const {
  auto p = authenticate(request);
  if (!p) return error_response(p.err());
  who = std::move(*p);
  return authorize(who, facts_for(who, what, act, lfn, owner_site), audit_action,
                   object.empty() ? std::string(lfn) : object, audit_allowed);
}

}  // namespace dm2::node
