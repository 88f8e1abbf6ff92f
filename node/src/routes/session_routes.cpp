// Sign-in sessions (docs/api.md, "Sessions"): POST /v1/sessions, GET and DELETE
// /v1/sessions/current. Sign-in is rate-limited per account name and per remote address before
// any password is checked; a bad name and a bad password answer alike, in the same time.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_signin_body = 4096;

std::string session_cookie(const std::string& token, std::int64_t max_age) {
  return "dm2_session=" + token + "; Path=/; Max-Age=" + std::to_string(max_age) + "; Secure; HttpOnly; SameSite=Strict";
}

http_response too_many(std::int64_t retry_after) {
  auto r = error_response(fail(errc::unavailable, "too many failed sign-ins; try again later"));
  r.status = 429;
  r.headers.emplace("Retry-After", std::to_string(retry_after));
  return r;
}

http_response sign_in(const route_context& c, const http_request& request) {
  if (request.body.size() > max_signin_body) return error_response(fail(errc::too_large, "sign-in body over 4 KiB"));
  auto j = json::parse(request.body, nullptr, false);
  if (!j.is_object() || !j.contains("name") || !j.contains("password") || !j["name"].is_string() ||
      !j["password"].is_string() || j.size() != 2)
    return error_response(fail(errc::invalid_argument, "give {\"name\": string, \"password\": string}"));
  access::credentials creds{j["name"].get<std::string>(), j["password"].get<std::string>()};
  auto& a = *c.access;
  auto now = a.now_s();
  if (auto wait = a.limiter().retry_after(creds.name, request.remote_address, now)) {
    (void)c.audit->append({0, "remote:" + request.remote_address, "sign_in", "", "refused: rate_limited", ""});
    return too_many(*wait);
  }
  auto who = a.signin().authenticate(creds);
  if (!who) {
    if (who.err().code != errc::unauthenticated) return error_response(who.err());
    a.limiter().failed(creds.name, request.remote_address, now);
    // The name is not audited (it may be nominative for a patient); the address is.
    (void)c.audit->append({0, "remote:" + request.remote_address, "sign_in", "", "refused: bad_credentials", ""});
    return error_response(who.err());
  }
  a.limiter().succeeded(creds.name);
  auto expires_at = now + a.settings().session_ttl_s;
  auto token = a.sessions().open(who->id, expires_at);
  if (!token) return error_response(token.err());
  if (auto s = c.audit->append({0, "user:" + who->id, "sign_in", who->id, "allowed", ""}); !s) return error_response(s.err());
  spdlog::info("event=sign_in user={} role={}", who->id, access::name_of(who->who));
  json body = {{"token", *token},
               {"expires_at", expires_at},
               {"user", {{"id", who->id}, {"role", access::name_of(who->who)}}}};
  http_response r{201, "application/json", {}, body.dump()};
  r.headers.emplace("Set-Cookie", session_cookie(*token, a.settings().session_ttl_s));
  return r;
}

http_response current(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  json body = {{"id", who->id}, {"role", access::name_of(who->who)}, {"site", who->home_site}, {"person", who->person}};
  // What a user of another site is granted by: his pseudonym at his site (docs/security.md).
  if (who->person) body["consortium_id"] = who->id + "@" + who->home_site;
  return http_response{200, "application/json", {}, body.dump()};
}

http_response sign_out(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto token = access::session_token_of(request.headers);
  if (token.empty()) return error_response(fail(errc::invalid_argument, "no session token in this request"));
  if (auto s = c.access->sessions().revoke(token); !s) return error_response(s.err());
  (void)c.audit->append({0, who->actor(), "sign_out", who->id, "allowed", ""});
  http_response r{204, "application/json", {}, ""};
  r.headers.emplace("Set-Cookie", session_cookie("", 0));
  return r;
}

}  // namespace

void add_session_routes(router& routes, const route_context& c) {
  routes.add("POST", "/v1/sessions", [c](const http_request& r) { return sign_in(c, r); });
  routes.add("GET", "/v1/sessions/current", [c](const http_request& r) { return current(c, r); });
  routes.add("DELETE", "/v1/sessions/current", [c](const http_request& r) { return sign_out(c, r); });
}

}  // namespace dm2::node
